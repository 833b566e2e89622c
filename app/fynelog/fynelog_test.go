package fynelog

import (
	"bytes"
	"log"
	"testing"
)

func TestFilterDropsOnlyTheLocaleReport(t *testing.T) {
	var out bytes.Buffer
	l := log.New(&Filter{W: &out}, "", log.LstdFlags)
	l.Println("Fyne error: ", "Error parsing user locale C")
	l.Println("  Cause:", "language: tag is not well-formed")
	l.Printf("  At: %s:%d", "/x/fyne.io/fyne/v2@v2.7.1/lang/locale.go", 35)
	l.Println("engine: backup of bt failed")
	l.Println("Fyne error: ", "Error occurred loading built-in translations")
	l.Println("  Cause:", "boom")
	got := out.String()
	for _, gone := range []string{"user locale", "not well-formed", "locale.go"} {
		if bytes.Contains([]byte(got), []byte(gone)) {
			t.Errorf("%q not dropped:\n%s", gone, got)
		}
	}
	for _, kept := range []string{"engine: backup of bt failed", "loading built-in translations", "Cause: boom"} {
		if !bytes.Contains([]byte(got), []byte(kept)) {
			t.Errorf("%q lost:\n%s", kept, got)
		}
	}
}
