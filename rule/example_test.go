package rule_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/postbox/postbox/rule"
)

func Example() {
	vars := []string{"payload", "header", "query", "path", "method", "body", "remote", "vars"}
	when, err := rule.CompileBool(`payload.action == "opened" && header["X-GitHub-Event"] == "pull_request"`, vars)
	if err != nil {
		panic(err)
	}
	repo, err := rule.Compile(`payload.repository.full_name`, vars)
	if err != nil {
		panic(err)
	}

	d := json.NewDecoder(strings.NewReader(`{"action": "opened", "repository": {"full_name": "octo/lamp"}}`))
	d.UseNumber()
	var payload any
	if err := d.Decode(&payload); err != nil {
		panic(err)
	}
	header := http.Header{}
	header.Set("X-GitHub-Event", "pull_request")
	env := map[string]any{"payload": payload, "header": header}

	ok, err := when.EvalBool(env)
	fmt.Println(ok, err)
	v, err := repo.Eval(env)
	fmt.Println(v, err)
	// Output:
	// true <nil>
	// octo/lamp <nil>
}

func ExampleCompile_error() {
	_, err := rule.Compile(`payload.action == "opened" && paylod.number > 1`, []string{"payload", "header"})
	fmt.Println(err)
	// Output:
	// column 31: unknown variable "paylod" (did you mean "payload"?)
}

func ExampleProgram_Eval_missingKey() {
	p, _ := rule.Compile(`payload.repository.name`, []string{"payload"})
	_, err := p.Eval(map[string]any{"payload": map[string]any{"repository": map[string]any{}}})
	fmt.Println(err)
	// Output:
	// column 20: no such key: payload.repository.name
}
