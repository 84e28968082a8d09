package postbox

import (
	"context"
	"io"
)

type outputKey struct{}

// OutputTo returns ctx carrying w: an action run within it (a command)
// copies its output there as it is written, besides keeping it in its
// Result. A sync hook with response: {stream: true} passes the client's
// connection.
func OutputTo(ctx context.Context, w io.Writer) context.Context {
	return context.WithValue(ctx, outputKey{}, w)
}

// OutputOf returns the writer OutputTo put in ctx, or nil.
func OutputOf(ctx context.Context) io.Writer {
	w, _ := ctx.Value(outputKey{}).(io.Writer)
	return w
}
