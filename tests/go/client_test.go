// The Go caller's view of airpy: only the generated Go stubs, grpc-go and arrow-go,
// against a real `airpy serve` (embedded Redis, real workers) started by TestMain.
package gotest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	airpyv1 "github.com/airpy/airpy/generated/go/airpy/v1"
)

var (
	address string
	bearer  string
	// Where the server under test keeps datasets and state, and its process (the gRPC server
	// runs in the `airpy serve` process itself; Redis and workers are its children).
	basePath  string
	dataDir   string
	serverPID int
	workDir   string // removed when the tests end
)

// bearerToken is a per-RPC credential: every call carries the JWT.
type bearerToken string

func (t bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(t)}, nil
}

func (bearerToken) RequireTransportSecurity() bool { return false }

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	bin := os.Getenv("AIRPY_BIN")
	if bin == "" {
		bin = "../../.venv/bin/airpy"
	}
	dir, err := os.MkdirTemp("", "airpy-go-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	workDir = dir
	basePath, dataDir = filepath.Join(dir, "data"), filepath.Join(dir, "state")
	env := append(os.Environ(),
		"PY_LISTEN=127.0.0.1:0",
		"PY_FLIGHT_LISTEN=127.0.0.1:0",
		"PY_DATA_DIR="+dataDir,
		"PY_BASE_PATH="+basePath,
		"PY_LOG_LEVEL=WARNING",
		"PY_SHUTDOWN_GRACE_S=2",
	)
	sample := exec.Command(bin, "sample")
	sample.Env = env
	if out, err := sample.CombinedOutput(); err != nil {
		panic(fmt.Sprintf("airpy sample: %v\n%s", err, out))
	}
	portFile := filepath.Join(dir, "port")
	serve := exec.Command(bin, "serve", "--port-file", portFile)
	serve.Env = env
	serve.Stderr = os.Stderr
	if err := serve.Start(); err != nil {
		panic(err)
	}
	serverPID = serve.Process.Pid
	defer func() {
		_ = serve.Process.Signal(syscall.SIGTERM)
		_ = serve.Wait()
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		raw, err := os.ReadFile(portFile)
		if err == nil {
			port, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
			address = fmt.Sprintf("127.0.0.1:%d", port)
			break
		}
		if time.Now().After(deadline) {
			panic("airpy serve did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	token := exec.Command(bin, "token", "--subject", "go-test")
	token.Env = env
	out, err := token.Output()
	if err != nil {
		panic(err)
	}
	bearer = strings.TrimSpace(string(out))
	return m.Run()
}

func dial(t *testing.T, withToken bool) *grpc.ClientConn {
	t.Helper()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if withToken {
		opts = append(opts, grpc.WithPerRPCCredentials(bearerToken(bearer)))
	}
	conn, err := grpc.NewClient(address, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestDiscoverWatchAndFetchFilesAsArrow(t *testing.T) {
	conn := dial(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	data := airpyv1.NewDataServiceClient(conn)
	jobs := airpyv1.NewJobServiceClient(conn)

	started, err := data.Discover(ctx, &airpyv1.DiscoverRequest{Uri: "sample", Recurse: true, DatasourceId: "go"})
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	token := started.GetToken()

	// Follow the job to its end: events arrive in order, the last one is terminal.
	stream, err := jobs.WatchJob(ctx, &airpyv1.WatchJobRequest{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	events := eventsToEnd(t, stream, 0)
	if last := events[len(events)-1]; !last.GetTerminal() || last.GetStatus() != airpyv1.JobStatus_JOB_STATUS_COMPLETED {
		t.Fatalf("last event %v", last)
	}

	job, err := jobs.GetJob(ctx, &airpyv1.GetJobRequest{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	result := job.GetJob().GetDiscover()
	if result.GetTotalFiles() != 4 || job.GetJob().GetDatasourceId() != "go" {
		t.Fatalf("discover result %v", result)
	}

	// Stream the "files" frame into arrow-go's IPC reader through a pipe.
	fetch, err := jobs.FetchResult(ctx, &airpyv1.FetchResultRequest{Token: token, Frame: "files"})
	if err != nil {
		t.Fatal(err)
	}
	reader, writer := io.Pipe()
	go func() {
		for {
			msg, err := fetch.Recv()
			if errors.Is(err, io.EOF) {
				writer.Close()
				return
			}
			if err != nil {
				writer.CloseWithError(err)
				return
			}
			if _, err := writer.Write(msg.GetArrowIpc()); err != nil {
				return
			}
		}
	}()
	records, err := ipc.NewReader(reader)
	if err != nil {
		t.Fatalf("ipc.NewReader: %v", err)
	}
	defer records.Release()
	paths := map[string]bool{}
	var rows int64
	for records.Next() {
		record := records.RecordBatch()
		rows += record.NumRows()
		column := record.Column(int(record.Schema().FieldIndices("path")[0])).(*array.String)
		for i := 0; i < column.Len(); i++ {
			paths[column.Value(i)] = true
		}
	}
	if err := records.Err(); err != nil {
		t.Fatal(err)
	}
	if rows != result.GetTotalFiles() || !paths["sample/readings.csv"] {
		t.Fatalf("read %d rows, paths %v", rows, paths)
	}
	header, err := fetch.Header()
	if err != nil || header.Get("x-arrow-rows")[0] != strconv.FormatInt(rows, 10) {
		t.Fatalf("x-arrow-rows header %v (%v)", header, err)
	}
}

func TestBadRequestIsInvalidArgumentWithDetails(t *testing.T) {
	conn := dial(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := airpyv1.NewDataServiceClient(conn).Discover(ctx, &airpyv1.DiscoverRequest{Uri: "../etc"})
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.InvalidArgument {
		t.Fatalf("want InvalidArgument, got %v", err)
	}
	var info *errdetails.ErrorInfo
	var bad *errdetails.BadRequest
	for _, detail := range st.Details() {
		switch d := detail.(type) {
		case *errdetails.ErrorInfo:
			info = d
		case *errdetails.BadRequest:
			bad = d
		}
	}
	if info == nil || info.GetReason() != "VALIDATION_ERROR" || info.GetDomain() != "airpy" {
		t.Fatalf("ErrorInfo %v", info)
	}
	if bad == nil || bad.GetFieldViolations()[0].GetField() != "uri" {
		t.Fatalf("BadRequest %v", bad)
	}
}

func TestMissingCredentialsAreUnauthenticated(t *testing.T) {
	conn := dial(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := airpyv1.NewJobServiceClient(conn).ListJobs(ctx, &airpyv1.ListJobsRequest{})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("want Unauthenticated, got %v", err)
	}
}

func TestPreviewReadsArrowRows(t *testing.T) {
	conn := dial(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reply, err := airpyv1.NewDataServiceClient(conn).Preview(ctx, &airpyv1.PreviewRequest{
		Path:  "sample/readings.csv",
		Limit: 5,
	})
	if err != nil {
		t.Fatalf("Preview: %v", err)
	}
	reader, err := ipc.NewReader(bytes.NewReader(reply.GetArrowIpc()))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Release()
	var rows int64
	for reader.Next() {
		record := reader.RecordBatch()
		rows += record.NumRows()
		if got := record.Schema().Field(1).Name; got != "meter" {
			t.Fatalf("second column %q", got)
		}
	}
	if rows != 5 || len(reply.GetRows().GetRows()) != 5 || !reply.GetStats().GetSampled() {
		t.Fatalf("rows %d, json rows %d, stats %v", rows, len(reply.GetRows().GetRows()), reply.GetStats())
	}
	if reply.GetStats().GetTotalRows() != 96 {
		t.Fatalf("total rows %d", reply.GetStats().GetTotalRows())
	}
}

// startDailyQuery sums kwh per day and region of the sample dataset, as a job.
func startDailyQuery(t *testing.T, ctx context.Context, conn *grpc.ClientConn) uint64 {
	t.Helper()
	started, err := airpyv1.NewQueryServiceClient(conn).Query(ctx, &airpyv1.QueryRequest{
		DatasourceId: "go",
		Plan: &airpyv1.Plan{
			Source:  &airpyv1.Plan_Dataset{Dataset: "sample/readings_parquet"},
			Grain:   &airpyv1.Grain{Col: "ts", Every: "1 day"},
			GroupBy: []string{"day", "region"},
			Aggs: []*airpyv1.Aggregate{
				{Col: "kwh", Fn: airpyv1.Aggregate_FN_SUM},
				{Fn: airpyv1.Aggregate_FN_COUNT},
			},
			OrderBy: []*airpyv1.OrderBy{{Col: "day"}, {Col: "region"}},
		},
	})
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	return started.GetToken()
}

// eventsToEnd reads a WatchJob stream until it ends; each event must follow the one before it
// (seq after+1, after+2 …) and there must be at least one.
func eventsToEnd(t *testing.T, stream airpyv1.JobService_WatchJobClient, after uint64) []*airpyv1.JobEvent {
	t.Helper()
	var events []*airpyv1.JobEvent
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("WatchJob: %v", err)
		}
		if want := after + uint64(len(events)) + 1; msg.GetEvent().GetSeq() != want {
			t.Fatalf("expected seq %d, got %d", want, msg.GetEvent().GetSeq())
		}
		events = append(events, msg.GetEvent())
	}
	if len(events) == 0 {
		t.Fatalf("the stream after seq %d ended without an event", after)
	}
	return events
}

// watchToEnd follows a job's events until the stream ends and fails the test unless it completed.
func watchToEnd(t *testing.T, ctx context.Context, jobs airpyv1.JobServiceClient, token uint64) {
	t.Helper()
	stream, err := jobs.WatchJob(ctx, &airpyv1.WatchJobRequest{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	events := eventsToEnd(t, stream, 0)
	if last := events[len(events)-1]; last.GetStatus() != airpyv1.JobStatus_JOB_STATUS_COMPLETED {
		t.Fatalf("job %d ended %v: %v", token, last.GetStatus(), last.GetError())
	}
}

// fetchArrow reads a job's frame through FetchResult into one Arrow IPC reader.
func fetchArrow(t *testing.T, ctx context.Context, jobs airpyv1.JobServiceClient, token uint64, frame string) *ipc.Reader {
	t.Helper()
	fetch, err := jobs.FetchResult(ctx, &airpyv1.FetchResultRequest{Token: token, Frame: frame})
	if err != nil {
		t.Fatal(err)
	}
	var whole bytes.Buffer
	for {
		msg, err := fetch.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		whole.Write(msg.GetArrowIpc())
	}
	reader, err := ipc.NewReader(&whole)
	if err != nil {
		t.Fatal(err)
	}
	return reader
}

// analyzeToEnd starts an analysis, follows it to completion and returns its token and result.
func analyzeToEnd(t *testing.T, ctx context.Context, conn *grpc.ClientConn, request *airpyv1.AnalyzeRequest) (uint64, *airpyv1.AnalyzeResult) {
	t.Helper()
	started, err := airpyv1.NewAnalyzeServiceClient(conn).Analyze(ctx, request)
	if err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	jobs := airpyv1.NewJobServiceClient(conn)
	watchToEnd(t, ctx, jobs, started.GetToken())
	reply, err := jobs.GetJob(ctx, &airpyv1.GetJobRequest{Token: started.GetToken()})
	if err != nil {
		t.Fatal(err)
	}
	return started.GetToken(), reply.GetJob().GetAnalyze()
}

func TestQueryGroupByDailyGrainReadAsArrow(t *testing.T) {
	conn := dial(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	jobs := airpyv1.NewJobServiceClient(conn)
	token := startDailyQuery(t, ctx, conn)
	watchToEnd(t, ctx, jobs, token)
	reader := fetchArrow(t, ctx, jobs, token, "")
	defer reader.Release()
	names := []string{}
	for _, field := range reader.Schema().Fields() {
		names = append(names, field.Name)
	}
	if strings.Join(names, ",") != "day,region,kwh_sum,count" {
		t.Fatalf("columns %v", names)
	}
	var rows, total int64
	for reader.Next() {
		record := reader.RecordBatch()
		rows += record.NumRows()
		counts := record.Column(3).(*array.Int64)
		for i := 0; i < counts.Len(); i++ {
			total += counts.Value(i)
		}
	}
	// 96 hourly readings over 4 days, two regions.
	if rows != 8 || total != 96 {
		t.Fatalf("%d rows, %d readings counted", rows, total)
	}
}

func TestEdaOfQueryResultByFrameRef(t *testing.T) {
	conn := dial(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	jobs := airpyv1.NewJobServiceClient(conn)
	query := startDailyQuery(t, ctx, conn)
	watchToEnd(t, ctx, jobs, query)

	token, result := analyzeToEnd(t, ctx, conn, &airpyv1.AnalyzeRequest{
		DatasourceId: "go",
		Input:        &airpyv1.AnalyzeRequest_FrameRef{FrameRef: &airpyv1.FrameRef{Token: query, Frame: "result"}},
		Kind:         airpyv1.AnalysisKind_ANALYSIS_KIND_EDA,
		Options:      &airpyv1.AnalyzeOptions{CorrelationThreshold: 0.5},
	})
	eda := result.GetEda()
	if eda.GetRows() != 8 || len(eda.GetColumns()) != 4 {
		t.Fatalf("EDA of %d rows, %d columns", eda.GetRows(), len(eda.GetColumns()))
	}
	var count *airpyv1.ColumnProfile
	for _, column := range eda.GetColumns() {
		if column.GetName() == "count" {
			count = column
		}
	}
	// Each day has 12 readings per region.
	if count == nil || count.GetMean() != 12 || count.GetNullCount() != 0 {
		t.Fatalf("count column %v", count)
	}
	if len(eda.GetCharts()) == 0 {
		t.Fatal("no chart hints")
	}
	for _, chart := range eda.GetCharts() {
		var spec map[string]any
		if err := json.Unmarshal([]byte(chart.GetVegaLite()), &spec); err != nil {
			t.Fatalf("chart %q: %v", chart.GetTitle(), err)
		}
		if !strings.Contains(fmt.Sprint(spec["$schema"]), "vega-lite/v5") {
			t.Fatalf("chart %q has schema %v", chart.GetTitle(), spec["$schema"])
		}
	}
	sample := fetchArrow(t, ctx, jobs, token, "sample")
	defer sample.Release()
	var rows int64
	for sample.Next() {
		rows += sample.RecordBatch().NumRows()
	}
	if rows != 8 {
		t.Fatalf("sample frame has %d rows", rows)
	}
}

func TestUploadFrameFromGoThenValidate(t *testing.T) {
	conn := dial(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	jobs := airpyv1.NewJobServiceClient(conn)
	analyze := airpyv1.NewAnalyzeServiceClient(conn)

	// A frame built with arrow-go: 1000 meter readings, reading 7 has no meter.
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "meter", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "kwh", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	builder := array.NewRecordBuilder(memory.NewGoAllocator(), schema)
	defer builder.Release()
	for i := 0; i < 1000; i++ {
		if i == 7 {
			builder.Field(0).(*array.StringBuilder).AppendNull()
		} else {
			builder.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("m%d", i%5))
		}
		builder.Field(1).(*array.Float64Builder).Append(float64(i) / 10)
	}
	record := builder.NewRecordBatch()
	defer record.Release()
	var buf bytes.Buffer
	writer := ipc.NewWriter(&buf, ipc.WithSchema(schema))
	if err := writer.Write(record); err != nil {
		t.Fatal(err)
	}
	if err := writer.Close(); err != nil {
		t.Fatal(err)
	}

	// Client streaming: the IPC stream in 1 KiB chunks.
	upload, err := analyze.UploadFrame(ctx)
	if err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	for start := 0; start < len(data); start += 1024 {
		end := min(start+1024, len(data))
		if err := upload.Send(&airpyv1.UploadFrameRequest{DatasourceId: "go", ArrowIpc: data[start:end]}); err != nil {
			t.Fatal(err)
		}
	}
	uploaded, err := upload.CloseAndRecv()
	if err != nil {
		t.Fatalf("UploadFrame: %v", err)
	}
	if uploaded.GetJob().GetStatus() != airpyv1.JobStatus_JOB_STATUS_COMPLETED {
		t.Fatalf("upload job %v", uploaded.GetJob().GetStatus())
	}

	token, result := analyzeToEnd(t, ctx, conn, &airpyv1.AnalyzeRequest{
		DatasourceId: "go",
		Input:        &airpyv1.AnalyzeRequest_FrameRef{FrameRef: &airpyv1.FrameRef{Token: uploaded.GetToken()}},
		Kind:         airpyv1.AnalysisKind_ANALYSIS_KIND_VALIDATION,
		Options: &airpyv1.AnalyzeOptions{Rules: []*airpyv1.Rule{
			{Id: "meter-set", Kind: airpyv1.Rule_KIND_NOT_NULL, Columns: []string{"meter"}},
			{Id: "kwh-range", Kind: airpyv1.Rule_KIND_RANGE, Columns: []string{"kwh"},
				Min: &airpyv1.Value{Kind: &airpyv1.Value_DoubleValue{DoubleValue: 0}}},
		}},
	})
	validation := result.GetValidation()
	rules := validation.GetRules()
	if validation.GetScore() != 0.5 || rules[0].GetPassed() || rules[0].GetFailingRows() != 1 || !rules[1].GetPassed() {
		t.Fatalf("validation %v", validation)
	}
	failing := fetchArrow(t, ctx, jobs, token, rules[0].GetFailingFrame())
	defer failing.Release()
	if !failing.Next() || failing.RecordBatch().Column(0).(*array.Int64).Value(0) != 7 {
		t.Fatal("the failing row is not row 7")
	}
}
