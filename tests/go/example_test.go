// The README's Go example (examples/go/query, a main package in its own module) built with the
// Go toolchain and run as a process against the server TestMain started.
package gotest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	airpyv1 "github.com/airpy/airpy/generated/go/airpy/v1"
)

const exampleDir = "../../examples/go/query"

var (
	buildOnce   sync.Once
	buildOutput []byte
	buildErr    error
)

// buildExample compiles the example once per test run, with the toolchain running these tests.
func buildExample(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(workDir, "query-example")
	buildOnce.Do(func() {
		build := exec.Command("go", "build", "-o", bin, ".")
		build.Dir = exampleDir
		buildOutput, buildErr = build.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("go build %s: %v\n%s", exampleDir, buildErr, buildOutput)
	}
	return bin
}

func runExample(t *testing.T, bin string, env ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), append([]string{"AIRPY_ADDRESS=" + address, "AIRPY_TOKEN=" + bearer}, env...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

func TestGoExampleRunsAgainstTheServer(t *testing.T) {
	for _, via := range []string{"flight", "grpc"} {
		t.Run(via, func(t *testing.T) { checkExampleOutput(t, "AIRPY_VIA="+via) })
	}
}

func checkExampleOutput(t *testing.T, env ...string) {
	bin := buildExample(t)
	stdout, stderr, err := runExample(t, bin, env...)
	if err != nil {
		t.Fatalf("example failed: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	// The same figures computed here from the formula of `airpy sample` (airpy/sample.py: its
	// missing hours 17 and 53, its spike at hour 40 and dip at hour 77): readings above 2 kWh per region.
	sums, counts := map[string]float64{}, map[string]int{}
	for h := 0; h < 96; h++ {
		kwh := 1.5 + float64(h%24)*0.25 + float64(h%3)*0.1
		switch h {
		case 17, 53:
			continue
		case 40:
			kwh = 18
		case 77:
			kwh = 0.2
		}
		region := []string{"north", "south"}[h%2]
		if kwh > 2 {
			sums[region] += kwh
			counts[region]++
		}
	}
	// Queued, or answered at once from the results cache when an identical run came first.
	if !strings.Contains(stdout, "JOB_STATUS_QUEUED") && !strings.Contains(stdout, "RUNNING cache_hit") {
		t.Errorf("output shows the job neither queued nor answered from the cache:\n%s", stdout)
	}
	for _, want := range []string{
		"JOB_STATUS_COMPLETED completed",
		"region\tkwh_sum\tcount\n",
		// ErrorInfo's reason and BadRequest's field path of the deliberately bad plan.
		"bad plan: InvalidArgument: plan.aggs[0].col: no column 'kwhh' here; did you mean 'kwh'?",
		"[reason VALIDATION_ERROR]",
		"[field plan.aggs[0].col]",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	for _, region := range []string{"north", "south"} {
		row := regexp.MustCompile(`(?m)^` + region + `\t([0-9.]+)\t([0-9]+)$`).FindStringSubmatch(stdout)
		if row == nil {
			t.Fatalf("no row for %s:\n%s", region, stdout)
		}
		var sum float64
		fmt.Sscan(row[1], &sum)
		if row[2] != fmt.Sprint(counts[region]) || sum < sums[region]-1e-6 || sum > sums[region]+1e-6 {
			t.Errorf("%s: got sum %s count %s, want %.3f %d", region, row[1], row[2], sums[region], counts[region])
		}
	}
}

func TestGoExampleHonoursItsDeadline(t *testing.T) {
	bin := buildExample(t)
	start := time.Now()
	stdout, stderr, err := runExample(t, bin, "AIRPY_TIMEOUT=1ms")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("want exit status 1, got %v\n%s%s", err, stdout, stderr)
	}
	if !strings.Contains(stderr, "DeadlineExceeded") || time.Since(start) > 10*time.Second {
		t.Fatalf("stderr %q after %s", stderr, time.Since(start))
	}
}

// Ctrl-C while the example follows its job: the calls in flight end (context cancelled) and the
// example cancels the job on the server before it exits.
func TestGoExampleCancelsItsJobOnInterrupt(t *testing.T) {
	bin := buildExample(t)
	// The thousand-file dataset of cancel_test.go keeps the job running for a second or more.
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "AIRPY_ADDRESS="+address, "AIRPY_TOKEN="+bearer, "AIRPY_DATASET="+manyFiles(t))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	var token uint64
	for lines.Scan() {
		if _, err := fmt.Sscanf(lines.Text(), "job %d", &token); err == nil {
			break
		}
	}
	if token == 0 {
		t.Fatalf("no job started: %s", stderr.String())
	}
	if !lines.Scan() { // the first event: WatchJob is streaming
		t.Fatalf("no event: %s", stderr.String())
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	for lines.Scan() { // read the rest so the example never blocks on a full pipe
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(stderr.String(), "Canceled") {
		t.Fatalf("exit %v, stderr %q", err, stderr.String())
	}

	conn := dial(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	job, err := airpyv1.NewJobServiceClient(conn).GetJob(ctx, &airpyv1.GetJobRequest{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	if job.GetJob().GetStatus() != airpyv1.JobStatus_JOB_STATUS_CANCELLED {
		t.Fatalf("job %d is %v after the interrupt", token, job.GetJob().GetStatus())
	}
}

// With a signing key the example mints a token per call, narrowed to one tenant, for a server
// that verifies public keys only (PY_AUTH_JWKS_FILE from `airpy keys`).
func TestGoExampleMintsANarrowedTokenPerCall(t *testing.T) {
	bin := buildExample(t)
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	airpyBin := os.Getenv("AIRPY_BIN")
	if airpyBin == "" {
		airpyBin = "../../.venv/bin/airpy"
	}
	env := append(os.Environ(),
		"PY_LISTEN=127.0.0.1:0", "PY_FLIGHT_LISTEN=127.0.0.1:0", "PY_LOG_LEVEL=WARNING", "PY_SHUTDOWN_GRACE_S=2",
		"PY_DATA_DIR="+filepath.Join(dir, "state"), "PY_BASE_PATH="+filepath.Join(dir, "data"),
		"PY_AUTH_JWKS_FILE="+filepath.Join(keys, "jwks.json"))
	for _, args := range [][]string{{"keys", "--out", keys}, {"sample"}} {
		cmd := exec.Command(airpyBin, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("airpy %v: %v\n%s", args, err, out)
		}
	}
	portFile := filepath.Join(dir, "port")
	serve := exec.Command(airpyBin, "serve", "--port-file", portFile)
	serve.Env = env
	serve.Stderr = os.Stderr
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = serve.Process.Signal(syscall.SIGTERM)
		_ = serve.Wait()
	})
	deadline := time.Now().Add(60 * time.Second)
	var port []byte
	for {
		raw, err := os.ReadFile(portFile)
		if err == nil && len(bytes.TrimSpace(raw)) > 0 {
			port = bytes.TrimSpace(raw)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("airpy serve did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	signing := []string{"AIRPY_ADDRESS=127.0.0.1:" + string(port), "AIRPY_TOKEN=", "AIRPY_SIGNING_KEY=" + filepath.Join(keys, "signing.pem")}
	for _, via := range []string{"flight", "grpc"} {
		t.Run(via, func(t *testing.T) { checkExampleOutput(t, append(signing, "AIRPY_VIA="+via)...) })
	}
	// Another tenant's token reaches none of the sample's files: refused before anything is queued.
	_, stderr, err := runExample(t, bin, append(signing, "AIRPY_TENANT=tenant-42")...)
	if err == nil || !strings.Contains(stderr, "PermissionDenied") || !strings.Contains(stderr, "[reason SCOPE_DENIED]") {
		t.Fatalf("a token of another tenant was not refused: %v\n%s", err, stderr)
	}
	// `airpy token --key` signs with the same private key: grpcurl's and the CLI's way in.
	mint := exec.Command(airpyBin, "token", "--key", filepath.Join(keys, "signing.pem"), "--scopes", "read,query")
	mint.Env = env
	keyed, err := mint.Output()
	if err != nil {
		t.Fatalf("airpy token --key: %v", err)
	}
	info := exec.Command(airpyBin, "info", "--address", "127.0.0.1:"+string(port), "--token", string(bytes.TrimSpace(keyed)))
	info.Env = env
	if out, err := info.CombinedOutput(); err != nil || !strings.Contains(string(out), "workers alive") {
		t.Fatalf("airpy info with a key-signed token: %v\n%s", err, out)
	}
	// An HS256 token is refused by a server that holds public keys only.
	_, stderr, err = runExample(t, bin, "AIRPY_ADDRESS=127.0.0.1:"+string(port))
	if err == nil || !strings.Contains(stderr, "Unauthenticated") {
		t.Fatalf("an HS256 token was not refused: %v\n%s", err, stderr)
	}
}

// The README's Go section shows examples/go/query/main.go exactly as it is compiled and run above.
func TestReadmeShowsTheGoExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	source, err := os.ReadFile(filepath.Join(exampleDir, "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	start := strings.Index(text, "\n## From Go\n")
	if start < 0 {
		t.Fatal("README has no \"## From Go\" section")
	}
	section := text[start+1:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	block := regexp.MustCompile("(?s)```go\n(.*?)```").FindStringSubmatch(section)
	if block == nil {
		t.Fatal("README's Go section has no ```go block")
	}
	if block[1] != string(source) {
		t.Fatalf("README's Go example differs from %s/main.go: copy the file into the README", exampleDir)
	}
}
