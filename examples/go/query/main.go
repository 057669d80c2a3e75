// Command query is the README's Go example: it runs one query plan on airpy and prints the
// result, the way a Go backend would: the job over the airpy.v1 API, the result over Arrow
// Flight (AIRPY_VIA=grpc reads it with FetchResult instead). Run it next to `make run`:
//
//	export AIRPY_TOKEN=$(.venv/bin/airpy token)  # in the repository root
//	cd examples/go/query && go run .
//
// With AIRPY_SIGNING_KEY (an Ed25519 key from `airpy keys`, whose jwks.json airpy reads as
// PY_AUTH_JWKS_FILE) it mints a short-lived token for every call instead, narrowed to one
// tenant's files (AIRPY_TENANT) and the scopes it needs, as a Go backend speaking for one
// end user would.
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	airpyv1 "github.com/airpy/airpy/generated/go/airpy/v1"
)

// serviceConfig is airpy's published client policy (airpy/service_config.json): calls wait
// for a server that is restarting instead of failing, and UNAVAILABLE is retried, for reads
// and for job submissions, which this program always sends with an idempotency key.
const serviceConfig = `{
  "methodConfig": [
    {
      "name": [
        {"service": "airpy.v1.JobService"},
        {"service": "airpy.v1.InfoService"},
        {"service": "airpy.v1.DataService", "method": "Preview"},
        {"service": "airpy.v1.QueryService", "method": "ExplainQuery"}
      ],
      "waitForReady": true,
      "retryPolicy": {
        "maxAttempts": 5,
        "initialBackoff": "0.25s",
        "maxBackoff": "4s",
        "backoffMultiplier": 2,
        "retryableStatusCodes": ["UNAVAILABLE"]
      }
    },
    {
      "name": [
        {"service": "airpy.v1.DataService", "method": "Discover"},
        {"service": "airpy.v1.DataService", "method": "InferSchema"},
        {"service": "airpy.v1.QueryService", "method": "Query"},
        {"service": "airpy.v1.AnalyzeService", "method": "Analyze"}
      ],
      "waitForReady": true,
      "retryPolicy": {
        "maxAttempts": 5,
        "initialBackoff": "0.25s",
        "maxBackoff": "4s",
        "backoffMultiplier": 2,
        "retryableStatusCodes": ["UNAVAILABLE"]
      }
    }
  ]
}`

// keepaliveParams ping an idle connection every 20 s (airpy accepts pings every 5 s), so a
// dead connection under a long WatchJob is noticed within half a minute.
var keepaliveParams = keepalive.ClientParameters{Time: 20 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}

// newIdempotencyKey names one job submission: a retry of it (by the policy above, or by hand
// after a lost reply) gets the same token and job instead of a second job.
func newIdempotencyKey() string {
	raw := make([]byte, 16)
	_, _ = rand.Read(raw)
	return hex.EncodeToString(raw)
}

// bearer is a per-RPC credential: grpc-go adds the JWT to every call's metadata.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// RequireTransportSecurity is false for this plaintext loopback demo; say true behind TLS.
func (bearer) RequireTransportSecurity() bool { return false }

// minted signs a fresh token for every call: five minutes of life, one tenant's path prefix
// (airpy/paths) and the scopes this program uses (airpy/scopes). airpy checks it against the
// public key of the same kid in its JWKS file (docs/security.md).
type minted struct {
	key    ed25519.PrivateKey
	kid    string
	sub    string
	paths  []string
	scopes []string
}

func (m minted) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	now := time.Now().Unix()
	header, err := json.Marshal(map[string]string{"alg": "EdDSA", "typ": "JWT", "kid": m.kid})
	if err != nil {
		return nil, err
	}
	claims, err := json.Marshal(map[string]any{
		"sub": m.sub, "iat": now, "exp": now + 300, "airpy/paths": m.paths, "airpy/scopes": m.scopes,
	})
	if err != nil {
		return nil, err
	}
	enc := base64.RawURLEncoding
	unsigned := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	signature := ed25519.Sign(m.key, []byte(unsigned))
	return map[string]string{"authorization": "Bearer " + unsigned + "." + enc.EncodeToString(signature)}, nil
}

func (minted) RequireTransportSecurity() bool { return false }

// perCallCredentials are minted per call when a signing key is given, else the fixed AIRPY_TOKEN.
func perCallCredentials() (credentials.PerRPCCredentials, error) {
	path := os.Getenv("AIRPY_SIGNING_KEY")
	if path == "" {
		return bearer(os.Getenv("AIRPY_TOKEN")), nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, fmt.Errorf("%s holds no PEM key", path)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	key, ok := parsed.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s is not an Ed25519 key", path)
	}
	// The kid is the key's RFC 7638 thumbprint, as `airpy keys` writes it into jwks.json.
	x := base64.RawURLEncoding.EncodeToString(key.Public().(ed25519.PublicKey))
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + x + `"}`))
	return minted{
		key:    key,
		kid:    base64.RawURLEncoding.EncodeToString(sum[:]),
		sub:    env("AIRPY_SUBJECT", "go-backend"),
		paths:  []string{env("AIRPY_TENANT", "sample")},
		scopes: []string{"query", "read"},
	}, nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "query:", describe(err))
		os.Exit(1)
	}
}

func run() error {
	address := env("AIRPY_ADDRESS", "127.0.0.1:50051")
	limit, err := time.ParseDuration(env("AIRPY_TIMEOUT", "60s"))
	if err != nil {
		return err
	}
	// Ctrl-C or SIGTERM cancels every call in flight; the deadline bounds the whole run.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()

	creds, err := perCallCredentials()
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(address,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(creds),
		grpc.WithDefaultServiceConfig(serviceConfig),
		grpc.WithKeepaliveParams(keepaliveParams))
	if err != nil {
		return err
	}
	defer conn.Close()
	queries := airpyv1.NewQueryServiceClient(conn)
	jobs := airpyv1.NewJobServiceClient(conn)

	// kWh and readings per region, of the readings above 2 kWh.
	started, err := queries.Query(ctx, &airpyv1.QueryRequest{
		DatasourceId:   "example",
		IdempotencyKey: newIdempotencyKey(),
		Plan: &airpyv1.Plan{
			Source: &airpyv1.Plan_Dataset{Dataset: env("AIRPY_DATASET", "sample/readings_parquet")},
			Filters: []*airpyv1.Filter{{
				Col: "kwh", Op: airpyv1.Filter_OP_GT,
				Value: &airpyv1.Value{Kind: &airpyv1.Value_DoubleValue{DoubleValue: 2}},
			}},
			GroupBy: []string{"region"},
			Aggs: []*airpyv1.Aggregate{
				{Col: "kwh", Fn: airpyv1.Aggregate_FN_SUM},
				{Fn: airpyv1.Aggregate_FN_COUNT},
			},
			OrderBy: []*airpyv1.OrderBy{{Col: "region"}},
		},
	})
	if err != nil {
		return err
	}
	token := started.GetToken()
	fmt.Printf("job %d %s\n", token, started.GetJob().GetStatus())

	if err := follow(ctx, jobs, token); err != nil {
		if ctx.Err() != nil {
			// We gave up (signal or deadline): stop the job too, on a context of its own.
			cleanup, done := context.WithTimeout(context.Background(), 5*time.Second)
			defer done()
			_, _ = jobs.CancelJob(cleanup, &airpyv1.CancelJobRequest{Token: token})
		}
		return err
	}
	if os.Getenv("AIRPY_VIA") == "grpc" {
		err = printFetched(ctx, jobs, token)
	} else {
		err = printFlight(ctx, conn, address, token, creds)
	}
	if err != nil {
		return err
	}

	// A plan naming a column that does not exist fails at once, before anything is queued.
	_, err = queries.Query(ctx, &airpyv1.QueryRequest{Plan: &airpyv1.Plan{
		Source:  &airpyv1.Plan_Dataset{Dataset: "sample/readings_parquet"},
		GroupBy: []string{"region"},
		Aggs:    []*airpyv1.Aggregate{{Col: "kwhh", Fn: airpyv1.Aggregate_FN_SUM}},
	}})
	fmt.Println("bad plan:", describe(err))
	return nil
}

// follow prints the job's events until the terminal one and fails unless it completed.
func follow(ctx context.Context, jobs airpyv1.JobServiceClient, token uint64) error {
	stream, err := jobs.WatchJob(ctx, &airpyv1.WatchJobRequest{Token: token})
	if err != nil {
		return err
	}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("job %d: the event stream ended before the job did", token)
		}
		if err != nil {
			return err
		}
		event := msg.GetEvent()
		fmt.Printf("  #%d %s %s\n", event.GetSeq(), event.GetStatus(), event.GetStep().GetStep())
		if event.GetTerminal() {
			if event.GetStatus() != airpyv1.JobStatus_JOB_STATUS_COMPLETED {
				e := event.GetError()
				return fmt.Errorf("job %d ended %s: %s %s", token, event.GetStatus(), e.GetReason(), e.GetMessage())
			}
			return nil
		}
	}
}

// printFlight reads the result frame with arrow-go's Flight client: the ticket comes from
// GetJob, the location from GetServerInfo (a wildcard host there means "the host you called").
func printFlight(ctx context.Context, conn *grpc.ClientConn, address string, token uint64, creds credentials.PerRPCCredentials) error {
	job, err := airpyv1.NewJobServiceClient(conn).GetJob(ctx, &airpyv1.GetJobRequest{Token: token})
	if err != nil {
		return err
	}
	info, err := airpyv1.NewInfoServiceClient(conn).GetServerInfo(ctx, &airpyv1.GetServerInfoRequest{})
	if err != nil {
		return err
	}
	if len(info.GetFlightLocations()) == 0 {
		return errors.New("the server offers no Arrow Flight location (PY_FLIGHT_LISTEN is empty)")
	}
	target := strings.TrimPrefix(info.GetFlightLocations()[0], "grpc://")
	if host, port, _ := strings.Cut(target, ":"); host == "0.0.0.0" || host == "" {
		target = strings.Split(address, ":")[0] + ":" + port
	}
	client, err := flight.NewClientWithMiddleware(target, nil, nil,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(creds))
	if err != nil {
		return err
	}
	defer client.Close()
	stream, err := client.DoGet(ctx, &flight.Ticket{Ticket: job.GetJob().GetFrames()[0].GetFlightTicket()})
	if err != nil {
		return err
	}
	reader, err := flight.NewRecordReader(stream)
	if err != nil {
		return err
	}
	defer reader.Release()
	return printRecords(reader.Schema(), reader.Next, reader.RecordBatch, reader.Err)
}

// printFetched streams the result frame with FetchResult (the plain-gRPC way: any gRPC client,
// grpcurl too) into arrow-go's IPC reader through a pipe, one message held at a time.
func printFetched(ctx context.Context, jobs airpyv1.JobServiceClient, token uint64) error {
	fetch, err := jobs.FetchResult(ctx, &airpyv1.FetchResultRequest{Token: token})
	if err != nil {
		return err
	}
	pipeReader, pipeWriter := io.Pipe()
	go func() {
		for {
			msg, err := fetch.Recv()
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				pipeWriter.CloseWithError(err) // nil closes with io.EOF
				return
			}
			if _, err := pipeWriter.Write(msg.GetArrowIpc()); err != nil {
				return
			}
		}
	}()
	reader, err := ipc.NewReader(pipeReader)
	if err != nil {
		return err
	}
	defer reader.Release()
	return printRecords(reader.Schema(), reader.Next, reader.RecordBatch, reader.Err)
}

// printRecords prints a header line, then every row of every record batch.
func printRecords(schema *arrow.Schema, next func() bool, batch func() arrow.RecordBatch, failed func() error) error {
	names := []string{}
	for _, field := range schema.Fields() {
		names = append(names, field.Name)
	}
	fmt.Println(strings.Join(names, "\t"))
	for next() {
		record := batch()
		for row := 0; row < int(record.NumRows()); row++ {
			cells := make([]string, record.NumCols())
			for col := range cells {
				cells[col] = record.Column(col).ValueStr(row)
			}
			fmt.Println(strings.Join(cells, "\t"))
		}
	}
	return failed()
}

// describe renders a failed call as its code, ErrorInfo reason and BadRequest field paths.
func describe(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return err.Error()
	}
	text := fmt.Sprintf("%s: %s", st.Code(), st.Message())
	for _, detail := range st.Details() {
		switch d := detail.(type) {
		case *errdetails.ErrorInfo:
			text += fmt.Sprintf(" [reason %s]", d.GetReason())
		case *errdetails.BadRequest:
			for _, violation := range d.GetFieldViolations() {
				text += fmt.Sprintf(" [field %s]", violation.GetField())
			}
		}
	}
	return text
}

func env(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}
