package supervisor

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Down with the directory of one lab and the name of another must change nothing: it would
// otherwise remove the running lab's files and leave its processes behind.
func TestDownRefusesAnotherLabsDirectory(t *testing.T) {
	dir := t.TempDir()
	b, err := json.Marshal(State{Options: Options{Name: "fdother", Dir: dir}, Phase: PhaseReady})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(Options{Dir: dir}.statePath(), b, 0o644); err != nil {
		t.Fatal(err)
	}
	err = Down(context.Background(), Options{Name: "fdmine", Dir: dir})
	if err == nil || !strings.Contains(err.Error(), `named "fdother"`) {
		t.Fatalf("Down = %v, want a refusal naming the lab in the directory", err)
	}
	if _, err := os.Stat(filepath.Join(dir, filepath.Base(Options{Dir: dir}.statePath()))); err != nil {
		t.Fatalf("the lab's files were touched: %v", err)
	}
}
