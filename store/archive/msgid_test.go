package archive

import "testing"

func TestMessageID(t *testing.T) {
	for in, want := range map[string]string{
		"Message-ID: <a@b>\r\n\r\nbody":              "<a@b>",
		"message-id:\r\n <folded@b>\r\nX: y\r\n\r\n": "<folded@b>",
		"Subject: x\r\n\r\nMessage-ID: <body@b>\r\n": "",
		"Subject: x\n\n":                             "",
	} {
		if got := MessageID([]byte(in)); got != want {
			t.Errorf("%q: got %q want %q", in, got, want)
		}
	}
}
