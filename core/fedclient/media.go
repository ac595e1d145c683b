package fedclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
)

// maxMediaMetadata bounds the JSON metadata part of a media answer.
const maxMediaMetadata = 64 << 10

// Media is a federation media answer (server-server spec v1.11, "Content
// Repository"): a multipart/mixed body whose first part is JSON metadata
// and whose second part is either the bytes or a redirect.
type Media struct {
	// Metadata is the first part, currently always an empty object.
	Metadata json.RawMessage
	// ContentType and ContentDisposition are the second part's headers.
	ContentType        string
	ContentDisposition string
	// Location is set instead of Body when the server redirects to
	// where the bytes can be fetched; the caller decides whether and
	// how to follow it (this client only speaks federation).
	Location string
	// Body streams the media bytes; nil when Location is set. The
	// caller must Close the Media, which closes the response.
	Body io.Reader

	closer io.Closer
}

// Close releases the response.
func (m *Media) Close() error {
	if m.closer == nil {
		return nil
	}
	return m.closer.Close()
}

// MediaDownload fetches a file of destination's content repository
// (GET /_matrix/federation/v1/media/download/{mediaId}). timeoutMS, when
// positive, is how long the remote may wait for an unfinished upload.
// The caller reads Body (bounding it as it sees fit) and closes the Media.
func (c *Client) MediaDownload(ctx context.Context, destination, mediaID string, timeoutMS int64) (*Media, error) {
	p := Path(prefixV1+"/media/download", mediaID)
	if timeoutMS > 0 {
		p = Query(p, url.Values{"timeout_ms": {strconv.FormatInt(timeoutMS, 10)}})
	}
	return c.media(ctx, destination, p)
}

// MediaThumbnail fetches a thumbnail (GET
// /_matrix/federation/v1/media/thumbnail/{mediaId}?width=&height=&method=).
// method is "crop", "scale" or "" for the server's choice.
func (c *Client) MediaThumbnail(ctx context.Context, destination, mediaID string, width, height int, method string, animated bool) (*Media, error) {
	q := url.Values{"width": {strconv.Itoa(width)}, "height": {strconv.Itoa(height)}}
	if method != "" {
		q.Set("method", method)
	}
	if animated {
		q.Set("animated", "true")
	}
	return c.media(ctx, destination, Query(Path(prefixV1+"/media/thumbnail", mediaID), q))
}

// media sends a media request and splits the multipart answer.
func (c *Client) media(ctx context.Context, destination, path string) (*Media, error) {
	resp, err := c.send(ctx, destination, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Media, error) {
		resp.Body.Close()
		return nil, fmt.Errorf("fedclient: GET %s from %s: %w", path, destination, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		data, _ := readLimited(resp.Body, 64<<10)
		resp.Body.Close()
		return nil, responseError(destination, http.MethodGet, path, resp, data)
	}
	mediaType, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/mixed" || params["boundary"] == "" {
		return fail(fmt.Errorf("answer is %q, want multipart/mixed with a boundary", resp.Header.Get("Content-Type")))
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	meta, err := mr.NextPart()
	if err != nil {
		return fail(fmt.Errorf("metadata part: %w", err))
	}
	metaBytes, err := readLimited(meta, maxMediaMetadata)
	if err != nil {
		return fail(fmt.Errorf("metadata part: %w", err))
	}
	if !json.Valid(metaBytes) {
		return fail(errors.New("metadata part is not JSON"))
	}
	part, err := mr.NextPart()
	if err != nil {
		return fail(fmt.Errorf("content part: %w", err))
	}
	m := &Media{
		Metadata:           metaBytes,
		ContentType:        part.Header.Get("Content-Type"),
		ContentDisposition: part.Header.Get("Content-Disposition"),
		Location:           part.Header.Get("Location"),
		closer:             resp.Body,
	}
	if m.Location == "" {
		m.Body = part
	}
	return m, nil
}
