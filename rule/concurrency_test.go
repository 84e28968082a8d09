package rule

import (
	"sync"
	"testing"
)

func TestConcurrentEval(t *testing.T) {
	// A Program is shared by every request of a hook; run with -race.
	p, err := CompileBool(`payload.commits.exists(c, c.message.matches("^WIP") || c.id.matches(vars.repo))`, postboxVars)
	if err != nil {
		t.Fatal(err)
	}
	env := testEnv(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if ok, err := p.EvalBool(env); err != nil || !ok {
					t.Errorf("EvalBool = %v, %v", ok, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
