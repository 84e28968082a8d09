package admin

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html"
	"net/http"
	"path"
	"strings"
	"time"
)

// ui holds the console: plain HTML, CSS and JavaScript, no build step and
// nothing loaded from elsewhere, so that it works offline.
//
//go:embed ui/index.html ui/app.js ui/app.css
var ui embed.FS

// asset is one file of the console with its ETag, so that a reload costs a
// 304, and its Content-Security-Policy.
type asset struct {
	name   string
	body   []byte
	etag   string
	ctype  string
	policy string
}

// consolePolicy allows a console file only its own origin's API.
const consolePolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// loadAssets reads the embedded console. The page at / carries its CSS and
// JavaScript inline, allowed by their hashes in its policy, so that the
// console loads in one round trip; app.js and app.css stay available on
// their own. signOut shows the sign-out button: there is a session to end
// only when the listener has a token.
func loadAssets(signOut bool) map[string]asset {
	read := func(name string) string {
		b, err := ui.ReadFile("ui/" + name)
		if err != nil {
			panic(fmt.Sprintf("admin: console file %s is not embedded: %v", name, err)) // a build mistake
		}
		return string(b)
	}
	index, js, css := read("index.html"), read("app.js"), read("app.css")
	const logout = `<form id="logout" method="post" action="/logout" hidden>`
	if !strings.Contains(index, logout) {
		panic("admin: ui/index.html must hold the sign-out form as written in console.go") // a build mistake
	}
	if signOut {
		index = strings.Replace(index, logout, strings.Replace(logout, " hidden", "", 1), 1)
	}
	out := map[string]asset{
		"/index.html": newAsset("index.html", index, consolePolicy),
		"/app.js":     newAsset("app.js", js, consolePolicy),
		"/app.css":    newAsset("app.css", css, consolePolicy),
	}
	const link, script = `<link rel="stylesheet" href="/app.css">`, `<script src="/app.js" defer></script>`
	if !strings.Contains(index, link) || !strings.Contains(index, script) || !strings.Contains(index, "</body>") ||
		strings.Contains(js, "</script") || strings.Contains(css, "</style") {
		panic("admin: ui/index.html must link /app.css and /app.js as written in console.go") // a build mistake
	}
	page := strings.Replace(index, link, "<style>"+css+"</style>", 1)
	page = strings.Replace(page, script, "", 1)
	page = strings.Replace(page, "</body>", "<script>"+js+"</script>\n</body>", 1)
	policy := "default-src 'none'; script-src 'sha256-" + hash64(js) + "'; style-src 'sha256-" + hash64(css) +
		"'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
	out["/"] = newAsset("index.html", page, policy)
	return out
}

func newAsset(name, body, policy string) asset {
	types := map[string]string{".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
		".css": "text/css; charset=utf-8"}
	sum := sha256.Sum256([]byte(body))
	return asset{name: name, body: []byte(body), etag: `"` + hex.EncodeToString(sum[:8]) + `"`,
		ctype: types[path.Ext(name)], policy: policy}
}

func hash64(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// handleConsole serves the console's files; any other path is 404.
func (s *Server) handleConsole() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		a, ok := s.assets[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.ctype)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
		h.Set("Content-Security-Policy", a.policy)
		http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.body))
	})
}

// serveLogin answers with the console's login form: the token is posted to
// /login, which sets the session cookie.
func serveLogin(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'")
	w.WriteHeader(status)
	if msg != "" {
		msg = `<p class="err">` + html.EscapeString(msg) + `</p>`
	}
	fmt.Fprintf(w, `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>postbox admin: sign in</title><link rel="icon" href="data:,">
<style>body{font:15px system-ui,sans-serif;margin:15vh auto;max-width:22rem;padding:0 1rem;color:#222}
input,button{font:inherit;padding:.45rem .6rem}input{width:100%%;box-sizing:border-box;margin:.4rem 0 .8rem}
.err{color:#b00020}</style></head>
<body><h1>postbox admin</h1>%s
<form method="post" action="/login" id="login"><label for="token">Admin token</label>
<input id="token" name="token" type="password" autocomplete="current-password" autofocus required>
<button type="submit">Sign in</button></form></body></html>
`, msg)
}
