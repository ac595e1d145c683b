package transport

import (
	"errors"
	"net/http"
	"testing"
)

type recordingTransport struct{ got []string }

func (r *recordingTransport) RoundTrip(destination string, req *http.Request) (*http.Response, error) {
	r.got = append(r.got, destination+" "+req.URL.Path)
	return &http.Response{StatusCode: http.StatusOK}, nil
}

func TestSingleChoosesItsTransport(t *testing.T) {
	rt := &recordingTransport{}
	tr, err := Single{Transport: rt}.Choose("example.org")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "matrix-federation://example.org/_matrix/federation/v1/version", nil)
	resp, err := tr.RoundTrip("example.org", req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("RoundTrip = %v, %v", resp, err)
	}
	if len(rt.got) != 1 || rt.got[0] != "example.org /_matrix/federation/v1/version" {
		t.Fatalf("transport saw %q", rt.got)
	}
}

func TestSingleWithoutTransportIsUnreachable(t *testing.T) {
	if _, err := (Single{}).Choose("example.org"); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Choose with no transport: %v, want ErrUnreachable", err)
	}
}
