package transporttest

import (
	"errors"
	"io"
	"net/http"
	"testing"

	"hearth/transport"
)

func TestRoutes(t *testing.T) {
	var rt Routes
	rt.Serve(t, "a.test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "a:"+r.URL.Path)
	}))
	tr, err := rt.Choose("a.test")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "matrix-federation://a.test/_matrix/federation/v1/version", nil)
	resp, err := tr.RoundTrip("a.test", req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "a:/_matrix/federation/v1/version" {
		t.Fatalf("body %q", body)
	}
	if _, err := rt.Choose("b.test"); !errors.Is(err, transport.ErrUnreachable) {
		t.Fatalf("Choose(b.test) = %v, want ErrUnreachable", err)
	}
	if _, err := rt.RoundTrip("b.test", req); !errors.Is(err, transport.ErrUnreachable) {
		t.Fatalf("RoundTrip(b.test) = %v, want ErrUnreachable", err)
	}
}
