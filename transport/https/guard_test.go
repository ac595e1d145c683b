package https

import (
	"errors"
	"testing"
)

func TestControlRefusesSpecialAddresses(t *testing.T) {
	tests := []struct {
		network, address string
		allowed          bool
	}{
		{"tcp4", "8.8.8.8:443", true},
		{"tcp4", "1.1.1.1:8448", true},
		{"tcp6", "[2606:4700:4700::1111]:443", true},
		{"tcp6", "[2a00:1450:4001:81b::200e]:8448", true},
		{"tcp6", "[::ffff:8.8.8.8]:443", true},
		{"tcp6", "[64:ff9b::808:808]:443", true},
		{"tcp6", "[2002:808:808::1]:443", true},
		{"tcp4", "10.0.0.1:443", false},
		{"tcp4", "172.16.0.1:443", false},
		{"tcp4", "172.31.255.255:443", false},
		{"tcp4", "192.168.1.1:443", false},
		{"tcp4", "127.0.0.1:8448", false},
		{"tcp4", "127.8.9.10:8448", false},
		{"tcp4", "169.254.1.1:80", false},
		{"tcp4", "169.254.169.254:80", false},
		{"tcp4", "0.0.0.0:8448", false},
		{"tcp4", "0.1.2.3:8448", false},
		{"tcp4", "100.64.0.1:443", false},
		{"tcp4", "192.0.0.8:443", false},
		{"tcp4", "192.0.2.1:443", false},
		{"tcp4", "198.18.0.1:443", false},
		{"tcp4", "198.51.100.1:443", false},
		{"tcp4", "203.0.113.1:443", false},
		{"tcp4", "224.0.0.1:443", false},
		{"tcp4", "239.255.255.250:1900", false},
		{"tcp4", "240.0.0.1:443", false},
		{"tcp4", "255.255.255.255:443", false},
		{"tcp6", "[::1]:8448", false},
		{"tcp6", "[::]:8448", false},
		{"tcp6", "[fe80::1]:443", false},
		{"tcp6", "[fe80::1%eth0]:443", false},
		{"tcp6", "[fc00::1]:443", false},
		{"tcp6", "[fd12:3456::1]:443", false},
		{"tcp6", "[ff02::1]:443", false},
		{"tcp6", "[fec0::1]:443", false},
		{"tcp6", "[100::1]:443", false},
		{"tcp6", "[2001:db8::1]:443", false},
		{"tcp6", "[2001::1]:443", false},
		{"tcp6", "[3fff::1]:443", false},
		{"tcp6", "[64:ff9b:1::1]:443", false},
		{"tcp6", "[::ffff:127.0.0.1]:443", false},
		{"tcp6", "[::ffff:10.0.0.1]:443", false},
		{"tcp6", "[64:ff9b::a00:1]:443", false},
		{"tcp6", "[64:ff9b::7f00:1]:443", false},
		{"tcp6", "[2002:c0a8:101::1]:443", false},
		{"tcp6", "[::127.0.0.1]:443", false},
		{"tcp4", "not an address", false},
		{"tcp4", "example.org:443", false},
	}
	for _, tt := range tests {
		t.Run(tt.address, func(t *testing.T) {
			err := control(false)(tt.network, tt.address, nil)
			if tt.allowed {
				if err != nil {
					t.Fatalf("control(%s) = %v, want allowed", tt.address, err)
				}
			} else if !errors.Is(err, ErrForbiddenAddress) {
				t.Fatalf("control(%s) = %v, want ErrForbiddenAddress", tt.address, err)
			}
			if err := control(true)(tt.network, tt.address, nil); err != nil {
				t.Fatalf("control with AllowPrivate (%s) = %v, want allowed", tt.address, err)
			}
		})
	}
}
