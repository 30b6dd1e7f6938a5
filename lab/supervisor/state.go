package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
)

// Phases of the lab in the state file.
const (
	PhaseStarting = "starting"
	PhaseReady    = "ready"
	PhaseFailed   = "failed"
	PhaseStopping = "stopping"
)

// State is the supervisor's state file: what is running, for up (waiting), down and tests
// (a component's pid, to stop it).
type State struct {
	Options    Options        `json:"options"`
	Supervisor int            `json:"supervisorPid"`
	Phase      string         `json:"phase"`
	Error      string         `json:"error,omitempty"`
	APIServer  string         `json:"apiServer,omitempty"`
	Pids       map[string]int `json:"pids"` // component (e.g. "speaker/node1") → pid
}

// ReadState reads a lab's state file.
func ReadState(dir string) (State, error) {
	var s State
	b, err := os.ReadFile(Options{Dir: dir}.statePath())
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("state file of the lab in %s: %w", dir, err)
	}
	return s, nil
}

// stateFile is the supervisor's writer of State; atomic renames, so readers never see half.
type stateFile struct {
	mu sync.Mutex
	s  State
}

func (f *stateFile) update(change func(*State)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(&f.s)
	b, err := json.MarshalIndent(f.s, "", "  ")
	if err != nil {
		return err
	}
	path := f.s.Options.statePath()
	if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

// alive reports whether pid is a running (not zombie) process.
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ')' {
			return i+2 >= len(s) || s[i+2] != 'Z'
		}
	}
	return true
}
