// Arrow Flight from Go: arrow-go's Flight client on default options against `airpy serve`.
package gotest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	airpyv1 "github.com/airpy/airpy/generated/go/airpy/v1"
)

// flightClient dials the Flight location GetServerInfo hands out, with the bearer JWT (or none).
func flightClient(t *testing.T, withToken bool) flight.Client {
	t.Helper()
	conn := dial(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := airpyv1.NewInfoServiceClient(conn).GetServerInfo(ctx, &airpyv1.GetServerInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(info.GetFlightLocations()) != 1 || !strings.HasPrefix(info.GetFlightLocations()[0], "grpc://127.0.0.1:") {
		t.Fatalf("flight locations %v", info.GetFlightLocations())
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if withToken {
		opts = append(opts, grpc.WithPerRPCCredentials(bearerToken(bearer)))
	}
	client, err := flight.NewClientWithMiddleware(strings.TrimPrefix(info.GetFlightLocations()[0], "grpc://"), nil, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return client
}

// A finished query's frame, read whole (its FrameInfo ticket) and by the endpoints of GetFlightInfo.
func TestFlightFetchesAQueryResult(t *testing.T) {
	conn := dial(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	started, err := airpyv1.NewQueryServiceClient(conn).Query(ctx, &airpyv1.QueryRequest{
		Plan: &airpyv1.Plan{Source: &airpyv1.Plan_Dataset{Dataset: "sample/readings.csv"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	job := waitDone(t, ctx, conn, started.GetToken())
	frame := job.GetFrames()[0]
	client := flightClient(t, true)

	stream, err := client.DoGet(ctx, &flight.Ticket{Ticket: frame.GetFlightTicket()})
	if err != nil {
		t.Fatal(err)
	}
	reader, err := flight.NewRecordReader(stream)
	if err != nil {
		t.Fatal(err)
	}
	var rows int64
	for reader.Next() {
		rows += reader.RecordBatch().NumRows()
	}
	if err := reader.Err(); err != nil {
		t.Fatal(err)
	}
	reader.Release()
	if rows != frame.GetRows() || rows == 0 {
		t.Fatalf("read %d rows over Flight, the frame has %d", rows, frame.GetRows())
	}

	// The same frame by the endpoints GetFlightInfo hands out (one per part of the frame).
	desc := &flight.FlightDescriptor{Type: flight.DescriptorPATH, Path: []string{"jobs", fmt.Sprint(job.GetToken()), "result"}}
	info, err := client.GetFlightInfo(ctx, desc)
	if err != nil {
		t.Fatal(err)
	}
	if info.GetTotalRecords() != frame.GetRows() || len(info.GetEndpoint()) == 0 {
		t.Fatalf("flight info %v", info)
	}
	var parts int64
	for _, endpoint := range info.GetEndpoint() {
		stream, err := client.DoGet(ctx, endpoint.GetTicket())
		if err != nil {
			t.Fatal(err)
		}
		reader, err := flight.NewRecordReader(stream)
		if err != nil {
			t.Fatal(err)
		}
		for reader.Next() {
			parts += reader.RecordBatch().NumRows()
		}
		reader.Release()
	}
	if parts != rows {
		t.Fatalf("the endpoints hold %d rows, the frame %d", parts, rows)
	}
}

// waitDone polls GetJob until the job completed.
func waitDone(t *testing.T, ctx context.Context, conn *grpc.ClientConn, token uint64) *airpyv1.Job {
	t.Helper()
	jobs := airpyv1.NewJobServiceClient(conn)
	for {
		reply, err := jobs.GetJob(ctx, &airpyv1.GetJobRequest{Token: token})
		if err != nil {
			t.Fatal(err)
		}
		switch reply.GetJob().GetStatus() {
		case airpyv1.JobStatus_JOB_STATUS_COMPLETED:
			return reply.GetJob()
		case airpyv1.JobStatus_JOB_STATUS_FAILED, airpyv1.JobStatus_JOB_STATUS_CANCELLED:
			t.Fatalf("job %d ended %v", token, reply.GetJob().GetStatus())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestFlightErrorsCarryTheRichStatus(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := flightClient(t, false).GetFlightInfo(ctx, &flight.FlightDescriptor{
		Type: flight.DescriptorPATH, Path: []string{"jobs", "1", "result"},
	})
	st, _ := status.FromError(err)
	if st.Code() != codes.Unauthenticated || !strings.HasPrefix(st.Message(), "AUTH_ERROR: ") {
		t.Fatalf("got %v", err)
	}
	found := false
	for _, detail := range st.Details() {
		if info, ok := detail.(*errdetails.ErrorInfo); ok && info.GetReason() == "AUTH_ERROR" && info.GetDomain() == "airpy" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no ErrorInfo in %v", st.Details())
	}
}
