package admin

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html"
	"net/http"
	"path"
	"time"
)

// ui holds the console: plain HTML, CSS and JavaScript, no build step and
// nothing loaded from elsewhere, so that it works offline.
//
//go:embed ui/index.html ui/app.js ui/app.css
var ui embed.FS

// asset is one file of the console with its ETag, so that a reload costs a
// 304.
type asset struct {
	name  string
	body  []byte
	etag  string
	ctype string
}

func loadAssets() map[string]asset {
	types := map[string]string{".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
		".css": "text/css; charset=utf-8"}
	out := map[string]asset{}
	for _, name := range []string{"index.html", "app.js", "app.css"} {
		body, err := ui.ReadFile("ui/" + name)
		if err != nil {
			panic(fmt.Sprintf("admin: console file %s is not embedded: %v", name, err)) // a build mistake
		}
		sum := sha256.Sum256(body)
		out["/"+name] = asset{name: name, body: body, etag: `"` + hex.EncodeToString(sum[:8]) + `"`,
			ctype: types[path.Ext(name)]}
	}
	out["/"] = out["/index.html"]
	return out
}

// consolePolicy allows the console only its own files and API.
const consolePolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

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
		h.Set("Content-Security-Policy", consolePolicy)
		http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.body))
	})
}

// serveLogin answers with the console's login form: the token is posted to
// /login, which sets the session cookie.
func serveLogin(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.WriteHeader(status)
	if msg != "" {
		msg = `<p class="err">` + html.EscapeString(msg) + `</p>`
	}
	fmt.Fprintf(w, `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>postbox admin: sign in</title>
<style>body{font:15px system-ui,sans-serif;margin:15vh auto;max-width:22rem;padding:0 1rem;color:#222}
input,button{font:inherit;padding:.45rem .6rem}input{width:100%%;box-sizing:border-box;margin:.4rem 0 .8rem}
.err{color:#b00020}</style></head>
<body><h1>postbox admin</h1>%s
<form method="post" action="/login" id="login"><label for="token">Admin token</label>
<input id="token" name="token" type="password" autocomplete="current-password" autofocus required>
<button type="submit">Sign in</button></form></body></html>
`, msg)
}
