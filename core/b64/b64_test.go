package b64

import (
	"bytes"
	"strings"
	"testing"

	"hearth/core/internal/vectors"
)

func TestSpecVectors(t *testing.T) {
	var file struct {
		Cases []struct {
			Input   string `json:"input_utf8"`
			Encoded string `json:"encoded"`
		} `json:"cases"`
	}
	vectors.Load(t, "spec_unpadded_base64.json", &file)
	if len(file.Cases) == 0 {
		t.Fatal("spec_unpadded_base64.json has no cases")
	}
	for _, tc := range file.Cases {
		t.Run(tc.Encoded, func(t *testing.T) {
			if got := Encode([]byte(tc.Input)); got != tc.Encoded {
				t.Errorf("Encode(%q) = %q, want %q", tc.Input, got, tc.Encoded)
			}
			if got := string(AppendEncode([]byte("x"), []byte(tc.Input))); got != "x"+tc.Encoded {
				t.Errorf("AppendEncode(x, %q) = %q, want %q", tc.Input, got, "x"+tc.Encoded)
			}
			got, err := Decode(tc.Encoded)
			if err != nil || string(got) != tc.Input {
				t.Errorf("Decode(%q) = %q, %v; want %q", tc.Encoded, got, err, tc.Input)
			}
			// Decoders accept the padded spelling as well.
			padded := tc.Encoded + strings.Repeat("=", (4-len(tc.Encoded)%4)%4)
			got, err = Decode(padded)
			if err != nil || string(got) != tc.Input {
				t.Errorf("Decode(%q) = %q, %v; want %q", padded, got, err, tc.Input)
			}
			// The spec's examples use only letters and digits, so the
			// URL-safe form is the same text.
			if got := EncodeURL([]byte(tc.Input)); got != tc.Encoded {
				t.Errorf("EncodeURL(%q) = %q, want %q", tc.Input, got, tc.Encoded)
			}
			got, err = DecodeURL(padded)
			if err != nil || string(got) != tc.Input {
				t.Errorf("DecodeURL(%q) = %q, %v; want %q", padded, got, err, tc.Input)
			}
		})
	}
}

func TestAlphabets(t *testing.T) {
	// 0xfb 0xff 0xbf encodes to the four characters that differ between
	// the two alphabets' last two symbols.
	src := []byte{0xfb, 0xff, 0xbf, 0xfe}
	tests := []struct {
		name   string
		encode func([]byte) string
		decode func(string) ([]byte, error)
		want   string
	}{
		{"standard", Encode, Decode, "+/+//g"},
		{"url-safe", EncodeURL, DecodeURL, "-_-__g"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.encode(src); got != tc.want {
				t.Fatalf("encode = %q, want %q", got, tc.want)
			}
			got, err := tc.decode(tc.want)
			if err != nil || !bytes.Equal(got, src) {
				t.Fatalf("decode(%q) = %x, %v; want %x", tc.want, got, err, src)
			}
		})
	}
}

func TestDecodeAcceptsNonZeroTrailingBits(t *testing.T) {
	tests := []struct {
		decode func(string) ([]byte, error)
		in     string
		want   []byte
	}{
		{Decode, "Zh", []byte("f")},
		{Decode, "Zm9=", []byte("fo")},
		{DecodeURL, "Zm9", []byte("fo")},
	}
	for _, tc := range tests {
		got, err := tc.decode(tc.in)
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("decode(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name   string
		decode func(string) ([]byte, error)
		in     string
	}{
		{"url alphabet in standard", Decode, "-_-__g"},
		{"standard alphabet in url", DecodeURL, "+/+//g"},
		{"impossible length", Decode, "Z"},
		{"impossible length url", DecodeURL, "Zm9vY"},
		{"partial padding", Decode, "Zg="},
		{"too much padding", Decode, "Zg==="},
		{"padding in the middle", Decode, "Zg==Zg"},
		{"line feed", Decode, "Zm9v\nYmFy"},
		{"carriage return url", DecodeURL, "Zm9v\rYmFy"},
		{"space", Decode, "Zm9v YmFy"},
		{"non-ascii", Decode, "Zm9vé"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.decode(tc.in)
			if err == nil {
				t.Fatalf("decode(%q) = %x, want an error", tc.in, got)
			}
			if !strings.HasPrefix(err.Error(), "b64: ") {
				t.Fatalf("error %q lacks the package context", err)
			}
		})
	}
}

func FuzzRoundTrip(f *testing.F) {
	for _, s := range []string{"", "f", "fo", "foo", "\xfb\xff\xbf"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		for _, pair := range []struct {
			encode func([]byte) string
			decode func(string) ([]byte, error)
		}{{Encode, Decode}, {EncodeURL, DecodeURL}} {
			s := pair.encode(src)
			if strings.ContainsRune(s, '=') {
				t.Fatalf("encoding %q is padded", s)
			}
			got, err := pair.decode(s)
			if err != nil || !bytes.Equal(got, src) {
				t.Fatalf("round trip of %x gave %x, %v", src, got, err)
			}
		}
	})
}
