package store

import (
	"testing"
	"time"
)

func TestAppendEventsBatch(t *testing.T) {
	s, dir := openTemp(t, Options{})
	if _, err := s.AppendEvent(Event{Kind: "first"}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	seqs, err := s.AppendEvents([]Event{{Kind: "a", Time: at}, {Kind: "b", Time: at}, {Kind: "c", Time: at}})
	if err != nil {
		t.Fatal(err)
	}
	if len(seqs) != 3 || seqs[0] != 2 || seqs[2] != 4 {
		t.Fatalf("seqs %v, want 2 3 4", seqs)
	}
	if none, err := s.AppendEvents(nil); err != nil || none != nil {
		t.Fatalf("empty batch: %v %v", none, err)
	}
	s.Close()
	s = openDir(t, dir, Options{})
	defer s.Close()
	got, bad, err := s.Events(1, 10)
	if err != nil || len(bad) > 0 || len(got) != 4 || got[3].Kind != "c" || got[3].Seq != 4 || !got[1].Time.Equal(at) {
		t.Fatalf("after reopen: %+v %v %v", got, bad, err)
	}
	if seq, _ := s.AppendEvent(Event{Kind: "next"}); seq != 5 {
		t.Fatalf("sequence after a batch and a reopen: %d, want 5", seq)
	}
}
