package admin

import "testing"

func TestSuffixOf(t *testing.T) {
	tests := []struct{ pattern, path, want string }{
		{"/hooks/github", "/hooks/github", ""},
		{"/gh/{repo}", "/gh/postbox", "/postbox"},
		{"/gh/{rest...}", "/gh/a/b", "/a/b"},
		{"/gh/", "/gh/a/b", "/a/b"},
		{"/stripe", "/other", ""},
	}
	for _, tt := range tests {
		if got := suffixOf(tt.pattern, tt.path); got != tt.want {
			t.Errorf("suffixOf(%q, %q) = %q, want %q", tt.pattern, tt.path, got, tt.want)
		}
	}
}
