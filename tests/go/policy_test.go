// The published client policy (airpy/service_config.json): the README's Go example carries it
// verbatim, and with it a Go client rides over a restart of the server.
package gotest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	airpyv1 "github.com/airpy/airpy/generated/go/airpy/v1"
)

func shippedPolicy(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../../airpy/service_config.json")
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func TestTheGoExampleCarriesThePublishedPolicy(t *testing.T) {
	source, err := os.ReadFile(filepath.Join(exampleDir, "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	found := regexp.MustCompile("(?s)const serviceConfig = `(.*?)`").FindSubmatch(source)
	if found == nil {
		t.Fatal("the example has no serviceConfig constant")
	}
	var inExample, shipped any
	if err := json.Unmarshal(found[1], &inExample); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(shippedPolicy(t)), &shipped); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(inExample, shipped) {
		t.Fatal("examples/go/query's serviceConfig differs from airpy/service_config.json")
	}
}

// A server restarted under a client: with the policy the client's calls wait for it and go
// through, and a job submission repeated with its idempotency key gets the same job.
func TestACallRidesOverAServerRestartWithThePolicy(t *testing.T) {
	airpyBin := os.Getenv("AIRPY_BIN")
	if airpyBin == "" {
		airpyBin = "../../.venv/bin/airpy"
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	address := listener.Addr().String()
	listener.Close()
	dir := t.TempDir()
	env := append(os.Environ(),
		"PY_LISTEN="+address, "PY_FLIGHT_LISTEN=", "PY_LOG_LEVEL=WARNING", "PY_SHUTDOWN_GRACE_S=1",
		"PY_DATA_DIR="+filepath.Join(dir, "state"), "PY_BASE_PATH="+filepath.Join(dir, "data"))
	sample := exec.Command(airpyBin, "sample")
	sample.Env = env
	if out, err := sample.CombinedOutput(); err != nil {
		t.Fatalf("airpy sample: %v\n%s", err, out)
	}
	start := func() *exec.Cmd {
		serve := exec.Command(airpyBin, "serve")
		serve.Env = env
		if err := serve.Start(); err != nil {
			t.Fatal(err)
		}
		return serve
	}
	serve := start()
	t.Cleanup(func() {
		_ = serve.Process.Signal(syscall.SIGTERM)
		_ = serve.Wait()
	})
	mint := exec.Command(airpyBin, "token", "--subject", "go-policy")
	mint.Env = env
	var tokenOut bytes.Buffer
	mint.Stdout = &tokenOut
	deadline := time.Now().Add(60 * time.Second)
	for mint.Run() != nil { // the secret exists once the server has started
		if time.Now().After(deadline) {
			t.Fatal("no token could be minted")
		}
		time.Sleep(200 * time.Millisecond)
		mint = exec.Command(airpyBin, "token", "--subject", "go-policy")
		mint.Env, mint.Stdout = env, &tokenOut
		tokenOut.Reset()
	}
	conn, err := grpc.NewClient(address,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(bearerToken(bytes.TrimSpace(tokenOut.Bytes()))),
		grpc.WithDefaultServiceConfig(shippedPolicy(t)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 5 * time.Second, PermitWithoutStream: true}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	info := airpyv1.NewInfoServiceClient(conn)
	if _, err := info.GetServerInfo(ctx, &airpyv1.GetServerInfoRequest{}); err != nil {
		t.Fatal(err)
	}

	// The server goes away; calls made meanwhile wait for the new one (same port, same Redis).
	_ = serve.Process.Signal(syscall.SIGTERM)
	_ = serve.Wait()
	request := &airpyv1.QueryRequest{
		Plan: &airpyv1.Plan{
			Source: &airpyv1.Plan_Dataset{Dataset: "sample/readings_parquet"},
			Aggs:   []*airpyv1.Aggregate{{Fn: airpyv1.Aggregate_FN_COUNT}},
		},
		NoCache:        true,
		IdempotencyKey: fmt.Sprintf("go-policy-%d", time.Now().UnixNano()),
	}
	type answer struct {
		token uint64
		err   error
	}
	answered := make(chan answer, 1)
	go func() {
		reply, err := airpyv1.NewQueryServiceClient(conn).Query(ctx, request)
		answered <- answer{reply.GetToken(), err}
	}()
	time.Sleep(500 * time.Millisecond) // the call is waiting while nothing listens
	serve = start()
	first := <-answered
	if first.err != nil {
		t.Fatalf("the call did not ride over the restart: %v", first.err)
	}
	again, err := airpyv1.NewQueryServiceClient(conn).Query(ctx, request)
	if err != nil {
		t.Fatal(err)
	}
	if again.GetToken() != first.token {
		t.Fatalf("a retry with the same idempotency key started job %d, not %d", again.GetToken(), first.token)
	}
}
