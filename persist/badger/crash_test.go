//go:build !js

package badger_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"hearth/persist"
	"hearth/persist/badger"
)

// crashDirEnv names the environment variable that makes
// TestKillKeepsAckedWrites act as the child process writing to the store
// in that directory.
const crashDirEnv = "HEARTH_PERSIST_CRASH_DIR"

const crashWriters = 8

// crashValueLog keeps the rounds' write-once values in the value log, as
// the node keeps events, so that each round commits to both databases.
var crashValueLog = badger.WithValueLog("w/")

// TestKillKeepsAckedWrites kills a process in the middle of concurrent
// durable writes and checks that every write it had acknowledged survives,
// atomically, and that the store keeps working after recovery.
func TestKillKeepsAckedWrites(t *testing.T) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		crashChild(dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillKeepsAckedWrites$")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	cmd.Stderr = t.Output()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Never hang on a broken child.
	timer := time.AfterFunc(2*time.Minute, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()

	acked := make([]int, crashWriters) // highest acknowledged round per writer
	for i := range acked {
		acked[i] = -1
	}
	sc := bufio.NewScanner(out)
	for n := 0; n < 400 && sc.Scan(); n++ {
		var w, round int
		if _, err := fmt.Sscanf(sc.Text(), "%d %d", &w, &round); err != nil {
			t.Fatalf("child wrote %q: %v", sc.Text(), err)
		}
		acked[w] = max(acked[w], round)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("child ended with %v, want it killed", err)
	}
	t.Logf("killed the child after acknowledgments up to rounds %v", acked)

	s := open(t, dir, crashValueLog)
	defer func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}()
	err = s.View(t.Context(), func(tx persist.Tx) error {
		for w := range crashWriters {
			v, err := tx.Get(fmt.Appendf(nil, "count/%d", w))
			if err != nil {
				return fmt.Errorf("writer %d: %w", w, err)
			}
			count, err := strconv.Atoi(string(v))
			if err != nil {
				return err
			}
			// Rounds may have committed without being acknowledged, but
			// no acknowledged round may be missing.
			if count < acked[w]+1 {
				t.Errorf("writer %d: %d rounds survived, but %d were acknowledged", w, count, acked[w]+1)
			}
			// Each round wrote its key and the count atomically.
			for round := range count + 1 {
				_, err := tx.Get(fmt.Appendf(nil, "w/%d/%06d", w, round))
				if round < count && err != nil {
					t.Errorf("writer %d: round %d counted but missing: %v", w, round, err)
				}
				if round == count && !errors.Is(err, persist.ErrNotFound) {
					t.Errorf("writer %d: round %d present but not counted: %v", w, round, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	// Writes after recovery must be visible: their timestamps must be
	// above everything recovered.
	if err := s.Update(t.Context(), func(tx persist.Tx) error { return tx.Set([]byte("count/0"), []byte("after")) }); err != nil {
		t.Fatalf("Update after recovery: %v", err)
	}
	err = s.View(t.Context(), func(tx persist.Tx) error {
		v, err := tx.Get([]byte("count/0"))
		if err == nil && string(v) != "after" {
			err = fmt.Errorf("count/0 = %q after recovery, want the new value", v)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// crashChild writes rounds from several goroutines until killed, printing
// "writer round" once a round's Update has returned.
func crashChild(dir string) {
	// Applies of a few groups at a time, so that the kill often lands
	// in one.
	s, err := badger.Open(dir, badger.WithLogger(nil), crashValueLog, badger.WithApplyAt(4<<10))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx := context.Background()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range crashWriters {
		wg.Go(func() {
			for round := 0; ; round++ {
				err := s.Update(ctx, func(tx persist.Tx) error {
					if err := tx.Set(fmt.Appendf(nil, "w/%d/%06d", w, round), make([]byte, 512)); err != nil {
						return err
					}
					return tx.Set(fmt.Appendf(nil, "count/%d", w), strconv.AppendInt(nil, int64(round+1), 10))
				})
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Printf("%d %d\n", w, round)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}
