package canary

import "testing"

func TestIsProbe(t *testing.T) {
	for head, want := range map[string]bool{
		"X-Lifeboat-Canary: abc\r\nSubject: x\r\n\r\nbody":                    true,
		"Subject: x\r\nx-lifeboat-canary: abc\r\n\r\nbody":                    true,
		"Subject: x\nX-LIFEBOAT-CANARY:abc\n\nbody":                           true,
		"Subject: x\r\n\r\nX-Lifeboat-Canary: in the body\r\n":                false,
		"Subject: about the X-Lifeboat-Canary: header\r\n\r\n":                false,
		"Subject: x\r\n X-Lifeboat-Canary: a folded line is not a header\r\n": false,
		"X-Lifeboat-Canary": false,
		"":                  false,
	} {
		if got := IsProbe([]byte(head)); got != want {
			t.Errorf("%q: %v, want %v", head, got, want)
		}
	}
}
