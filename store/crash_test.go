package store

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The crash tests run this test binary again as a helper process, selected
// by an environment variable, and kill it with SIGKILL: nothing the store
// does in Close (or in deferred code) runs.
const (
	helperEnv    = "STORE_TEST_HELPER"
	helperDirEnv = "STORE_TEST_DIR"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode, os.Getenv(helperDirEnv)))
	}
	os.Exit(m.Run())
}

// runHelper is the body of a helper process.
//
//	write: open the store, then create allocations (and events) one after
//	       another, printing "ack <id> <seq>" after each returned, until
//	       killed. The first line is "start <n>" with the number of
//	       allocations found on opening.
//	hold:  open the store, print "ready", wait for stdin to close.
func runHelper(mode, dir string) int {
	s, err := Open(dir, Options{Logger: quietLogger()})
	if err != nil {
		fmt.Println("open-error", err)
		return 2
	}
	switch mode {
	case "write":
		all, _, err := s.ListAllocations(AllocationFilter{})
		if err != nil {
			fmt.Println("error", err)
			return 2
		}
		fmt.Printf("start %d\n", len(all))
		for i := len(all); i < 100000; i++ {
			id := fmt.Sprintf("crash-%06d", i)
			a := sampleAllocation(id)
			a.Qubits = []int{i}
			if _, err := s.CreateAllocation(a); err != nil {
				fmt.Println("error", err)
				return 2
			}
			seq, err := s.AppendEvent(Event{Kind: "granted", Subject: id})
			if err != nil {
				fmt.Println("error", err)
				return 2
			}
			// One write(2) per line: the parent never sees half an ack.
			os.Stdout.WriteString("ack " + id + " " + strconv.FormatUint(seq, 10) + "\n")
		}
		return 0
	case "hold":
		fmt.Println("ready")
		_, _ = io.Copy(io.Discard, os.Stdin)
		_ = s.Close()
		return 0
	}
	return 3
}

func helper(t *testing.T, mode, dir string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, helperDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	return cmd
}

// Every allocation acknowledged by a process that is then killed with
// SIGKILL is there after a restart; so is every acknowledged event, and the
// event sequence goes on from there. Two rounds: the second process starts
// on the database the first one left behind.
func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	dir := t.TempDir()
	acked := map[string]bool{}
	var lastSeq uint64
	for round, killAfter := range []int{40, 25} {
		cmd := helper(t, "write", dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		n, killed := 0, false
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 2 && f[0] == "start":
				if got, _ := strconv.Atoi(f[1]); got < len(acked) {
					t.Fatalf("round %d: helper found %d allocations, %d were acknowledged", round, got, len(acked))
				}
			case len(f) == 3 && f[0] == "ack":
				acked[f[1]] = true
				seq, _ := strconv.ParseUint(f[2], 10, 64)
				if seq <= lastSeq {
					t.Fatalf("round %d: event seq %d after %d", round, seq, lastSeq)
				}
				lastSeq = seq
				n++
				if n == killAfter && !killed {
					// Mid-stream: the helper is busy with the next write.
					if err := cmd.Process.Kill(); err != nil {
						t.Fatal(err)
					}
					killed = true
				}
			default:
				t.Fatalf("round %d: helper said %q", round, sc.Text())
			}
		}
		err = cmd.Wait()
		if !killed {
			t.Fatalf("round %d: helper ended (%v) after %d acks before it was killed", round, err, n)
		}
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != -1 {
			t.Fatalf("round %d: helper exit = %v, want death by signal", round, err)
		}
	}

	s := openDir(t, dir, Options{})
	all, bad, err := s.ListAllocations(AllocationFilter{ActiveOnly: true})
	noBad(t, bad, err, "ListAllocations after crashes")
	found := map[string]bool{}
	for _, a := range all {
		found[a.ID] = true
	}
	for id := range acked {
		if !found[id] {
			t.Errorf("acknowledged allocation %s lost", id)
		}
	}
	// At most one write per round was in flight when the helper died.
	if extra := len(all) - len(acked); extra < 0 || extra > 2 {
		t.Errorf("%d allocations stored, %d acknowledged", len(all), len(acked))
	}
	owners, _, _ := s.ActiveQubitOwners()
	if c := owners.Conflicts(); len(c) != 0 {
		t.Errorf("double grants after crashes: %v", c)
	}
	evs, bad, err := s.Events(0, 0)
	noBad(t, bad, err, "Events after crashes")
	if len(evs) == 0 || evs[len(evs)-1].Seq < lastSeq {
		t.Fatalf("acknowledged event %d lost (have %d events)", lastSeq, len(evs))
	}
	if seq, err := s.AppendEvent(Event{Kind: "restart"}); err != nil || seq <= lastSeq {
		t.Fatalf("event after restart got seq %d (%v), last acknowledged %d", seq, err, lastSeq)
	}
	t.Logf("%d allocations acknowledged over 2 crashes, %d stored", len(acked), len(all))
}

// A store held open by another process is refused with ErrLocked, naming
// the directory, and opens once that process is gone.
func TestOpenLockedByOtherProcess(t *testing.T) {
	dir := t.TempDir()
	cmd := helper(t, "hold", dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("helper said %q (%v)", line, err)
	}
	_, err = Open(dir, Options{Logger: quietLogger()})
	mustErrIs(t, err, ErrLocked, "Open of a directory held by another process")
	if !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), strconv.Itoa(cmd.Process.Pid)) {
		t.Errorf("error should name %s and pid %d: %v", dir, cmd.Process.Pid, err)
	}
	stdin.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("helper: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("helper did not exit")
	}
	openDir(t, dir, Options{})
}
