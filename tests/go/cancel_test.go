// Deadlines and cancellation from the Go caller: the server stops work the caller gave up on,
// releases what the call held, and keeps serving.
package gotest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	airpyv1 "github.com/airpy/airpy/generated/go/airpy/v1"
)

// serverFDs counts the open file descriptors of the server process: a frame handle, upload
// file or Redis connection kept by an abandoned call would show up here.
func serverFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", serverPID))
	if err != nil {
		t.Skipf("cannot count the server's descriptors: %v", err)
	}
	return len(entries)
}

// serverThreads is the thread count of the server process (its I/O pool is bounded at 32).
func serverThreads(t *testing.T) int {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", serverPID))
	if err != nil {
		t.Skipf("cannot read the server's status: %v", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if value, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(value))
			return n
		}
	}
	t.Fatal("no Threads line")
	return 0
}

// settles waits until the server holds no more descriptors than before the abandoned calls
// (a little slack for Redis connections its pools open on demand) and checks its thread count.
func settles(t *testing.T, fdsBefore int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for serverFDs(t) > fdsBefore+2 {
		if time.Now().After(deadline) {
			t.Fatalf("the server holds %d descriptors, %d before the cancelled calls", serverFDs(t), fdsBefore)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// gRPC's and airpy's pools are bounded; a thread per abandoned call would grow past this.
	if threads := serverThreads(t); threads > 80 {
		t.Fatalf("the server runs %d threads", threads)
	}
}

// manyFiles writes a dataset of n small CSV files once: checking a plan against it reads every
// file's header, which takes the server long enough (about 0.3 s for 1000 here) to cancel it.
var manyOnce sync.Once

func manyFiles(t *testing.T) string {
	t.Helper()
	const n = 1000
	manyOnce.Do(func() {
		dir := filepath.Join(basePath, "many")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			panic(err)
		}
		for i := 0; i < n; i++ {
			body := fmt.Sprintf("meter,region,kwh\nm%d,%s,%d.5\n", i%7, []string{"north", "south"}[i%2], i%10)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("part-%05d.csv", i)), []byte(body), 0o644); err != nil {
				panic(err)
			}
		}
	})
	return "many"
}

func manyQuery(dataset, source string) *airpyv1.QueryRequest {
	return &airpyv1.QueryRequest{
		DatasourceId: source,
		NoCache:      true, // the cases cancel work that must really run
		Plan: &airpyv1.Plan{
			Source:  &airpyv1.Plan_Dataset{Dataset: dataset},
			GroupBy: []string{"meter"},
			Aggs:    []*airpyv1.Aggregate{{Col: "kwh", Fn: airpyv1.Aggregate_FN_SUM}},
			OrderBy: []*airpyv1.OrderBy{{Col: "meter"}},
		},
	}
}

func listBySource(t *testing.T, jobs airpyv1.JobServiceClient, source string) []*airpyv1.Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reply, err := jobs.ListJobs(ctx, &airpyv1.ListJobsRequest{DatasourceId: source})
	if err != nil {
		t.Fatal(err)
	}
	return reply.GetJobs()
}

// A Query whose deadline passes while the server is still checking the plan: the caller gets
// DEADLINE_EXCEEDED, the server abandons the check and queues nothing, and serves the next call.
// (Documented rule: a job exists exactly when the call got as far as queueing it; a deadline
// that passes after that point leaves a job the caller can list, watch and cancel.)
func TestQueryDeadlineShorterThanItsCheckQueuesNothing(t *testing.T) {
	conn := dial(t, true)
	queries := airpyv1.NewQueryServiceClient(conn)
	jobs := airpyv1.NewJobServiceClient(conn)
	dataset := manyFiles(t)
	source := fmt.Sprintf("deadline-%d", time.Now().UnixNano())

	// How long the call takes with time to spare (it checks the plan, then queues the job).
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	spare, err := queries.Query(ctx, manyQuery(dataset, source+"-spare"))
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	check := time.Since(start)
	t.Logf("the call takes %s", check)
	if check < 150*time.Millisecond {
		t.Skipf("the plan check took only %s here: too fast to cut short", check)
	}
	fds := serverFDs(t)

	short, stop := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer stop()
	// Other reader options: the server's schema cache (per dataset and options) misses, so this
	// check reads the 1000 files' schemas again and takes as long as the first.
	uncached := manyQuery(dataset, source)
	uncached.GetPlan().Reader = &airpyv1.ReaderOptions{NullValues: []string{fmt.Sprintf("NA-%d", time.Now().UnixNano())}}
	_, err = queries.Query(short, uncached)
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("want DeadlineExceeded, got %v", err)
	}
	// Give an unheeded deadline every chance to show: twice the call's own time.
	time.Sleep(2*check + 200*time.Millisecond)
	if listed := listBySource(t, jobs, source); len(listed) != 0 {
		t.Fatalf("a call that ran out of time queued job %d", listed[0].GetToken())
	}
	settles(t, fds)

	// The server still serves; the job started with time to spare is not needed any more.
	cancelled, err := jobs.CancelJob(ctx, &airpyv1.CancelJobRequest{Token: spare.GetToken()})
	if err != nil || cancelled.GetJob().GetToken() != spare.GetToken() {
		t.Fatalf("CancelJob after the deadline: %v", err)
	}
}

// An UploadFrame (the client-streaming job-starting call) whose deadline passes mid-upload:
// no upload job exists and the partial upload file is removed.
func TestUploadDeadlineMidStreamLeavesNothing(t *testing.T) {
	conn := dial(t, true)
	analyze := airpyv1.NewAnalyzeServiceClient(conn)
	jobs := airpyv1.NewJobServiceClient(conn)
	source := fmt.Sprintf("upload-deadline-%d", time.Now().UnixNano())
	fds := serverFDs(t)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	upload, err := analyze.UploadFrame(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := upload.Send(&airpyv1.UploadFrameRequest{DatasourceId: source, ArrowIpc: bytes.Repeat([]byte{0}, 4096)}); err != nil {
		t.Fatal(err)
	}
	<-ctx.Done() // the caller stalls past its deadline without closing the stream
	if _, err := upload.CloseAndRecv(); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("want DeadlineExceeded, got %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	if listed := listBySource(t, jobs, source); len(listed) != 0 {
		t.Fatalf("an abandoned upload created job %d", listed[0].GetToken())
	}
	leftovers, _ := filepath.Glob(filepath.Join(dataDir, "results", "_uploads", "*"))
	if len(leftovers) != 0 {
		t.Fatalf("partial uploads left behind: %v", leftovers)
	}
	settles(t, fds)
}

// bigFrame uploads a frame of 400 000 rows (about 6.4 MB of Arrow, 25 FetchResult messages of
// 256 KiB) once and returns its token.
var (
	bigOnce  sync.Once
	bigToken uint64
	bigErr   error
)

func bigFrame(t *testing.T, conn *grpc.ClientConn) uint64 {
	t.Helper()
	bigOnce.Do(func() {
		schema := arrow.NewSchema([]arrow.Field{
			{Name: "id", Type: arrow.PrimitiveTypes.Int64},
			{Name: "kwh", Type: arrow.PrimitiveTypes.Float64},
		}, nil)
		builder := array.NewRecordBuilder(memory.NewGoAllocator(), schema)
		defer builder.Release()
		var buf bytes.Buffer
		writer := ipc.NewWriter(&buf, ipc.WithSchema(schema))
		for batch := 0; batch < 4; batch++ {
			for i := 0; i < 100_000; i++ {
				builder.Field(0).(*array.Int64Builder).Append(int64(batch*100_000 + i))
				builder.Field(1).(*array.Float64Builder).Append(float64(i) / 7)
			}
			record := builder.NewRecordBatch()
			bigErr = writer.Write(record)
			record.Release()
			if bigErr != nil {
				return
			}
		}
		if bigErr = writer.Close(); bigErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		upload, err := airpyv1.NewAnalyzeServiceClient(conn).UploadFrame(ctx)
		if err != nil {
			bigErr = err
			return
		}
		data := buf.Bytes()
		for start := 0; start < len(data); start += 1 << 20 {
			end := min(start+1<<20, len(data))
			if bigErr = upload.Send(&airpyv1.UploadFrameRequest{DatasourceId: "go-big", ArrowIpc: data[start:end]}); bigErr != nil {
				return
			}
		}
		reply, err := upload.CloseAndRecv()
		bigToken, bigErr = reply.GetToken(), err
	})
	if bigErr != nil {
		t.Fatalf("uploading the big frame: %v", bigErr)
	}
	return bigToken
}

// A FetchResult stream the caller cancels after its first message ends with CANCELED on the
// client, the server closes the frame file, and the whole frame can be fetched again.
func TestFetchResultCancelledMidStream(t *testing.T) {
	conn := dial(t, true)
	jobs := airpyv1.NewJobServiceClient(conn)
	token := bigFrame(t, conn)
	fds := serverFDs(t)

	for round := 0; round < 5; round++ {
		ctx, cancel := context.WithCancel(context.Background())
		fetch, err := jobs.FetchResult(ctx, &airpyv1.FetchResultRequest{Token: token})
		if err != nil {
			t.Fatal(err)
		}
		first, err := fetch.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(first.GetArrowIpc())) >= first.GetTotalBytes() {
			t.Fatalf("the frame fits one message (%d bytes): nothing left to cancel", first.GetTotalBytes())
		}
		cancel()
		received := len(first.GetArrowIpc())
		for {
			msg, err := fetch.Recv()
			if err != nil {
				if status.Code(err) != codes.Canceled {
					t.Fatalf("after cancel: %v", err)
				}
				break
			}
			received += len(msg.GetArrowIpc())
		}
		if int64(received) >= first.GetTotalBytes() {
			t.Fatalf("the whole frame arrived (%d bytes) despite the cancel", received)
		}
	}
	settles(t, fds)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reader := fetchArrow(t, ctx, jobs, token, "")
	defer reader.Release()
	var rows int64
	for reader.Next() {
		rows += reader.RecordBatch().NumRows()
	}
	if err := reader.Err(); err != nil || rows != 400_000 {
		t.Fatalf("refetch: %d rows (%v)", rows, err)
	}
}

// A WatchJob the caller cancels mid-stream ends with CANCELED; the job itself runs on (a
// watcher going away is not a CancelJob), and a new WatchJob from the last seq seen gets each
// remaining event exactly once, through the terminal one (here after a CancelJob, to be quick).
func TestWatchJobCancelledMidStream(t *testing.T) {
	conn := dial(t, true)
	queries := airpyv1.NewQueryServiceClient(conn)
	jobs := airpyv1.NewJobServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	started, err := queries.Query(ctx, manyQuery(manyFiles(t), "go-watch-cancel"))
	if err != nil {
		t.Fatal(err)
	}
	token := started.GetToken()
	fds := serverFDs(t)

	watchCtx, stopWatching := context.WithCancel(ctx)
	stream, err := jobs.WatchJob(watchCtx, &airpyv1.WatchJobRequest{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if first.GetEvent().GetTerminal() {
		t.Fatal("the job ended before the first event was read")
	}
	stopWatching()
	last := first.GetEvent().GetSeq()
	for {
		msg, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) || status.Code(err) != codes.Canceled {
				t.Fatalf("after cancel: %v", err)
			}
			break
		}
		last = msg.GetEvent().GetSeq() // events already in flight may still arrive
	}

	current, err := jobs.GetJob(ctx, &airpyv1.GetJobRequest{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	if current.GetJob().GetStatus() == airpyv1.JobStatus_JOB_STATUS_CANCELLED {
		t.Fatal("cancelling the watch cancelled the job")
	}
	if _, err := jobs.CancelJob(ctx, &airpyv1.CancelJobRequest{Token: token}); err != nil {
		t.Fatal(err)
	}

	resumed, err := jobs.WatchJob(ctx, &airpyv1.WatchJobRequest{Token: token, FromSeq: last})
	if err != nil {
		t.Fatal(err)
	}
	events := eventsToEnd(t, resumed, last)
	// CANCELLED by the CancelJob above, or COMPLETED on a machine fast enough to finish first.
	if end := events[len(events)-1]; !end.GetTerminal() || end.GetStatus() == airpyv1.JobStatus_JOB_STATUS_FAILED {
		t.Fatalf("the job ended with %v", end)
	}
	settles(t, fds)
}
