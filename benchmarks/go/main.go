// fetchbench: reads one whole Arrow result as record batches and prints {"bytes", "rows", "seconds"}.
//
//	fetchbench -mode airpy  -addr HOST:PORT -token JWT -job N   (FetchResult, generated stubs)
//	fetchbench -mode flight -addr HOST:PORT                     (Flight DoGet, the anchor)
//	fetchbench -mode airpy-flight -addr HOST:PORT -token JWT -ticket HEX   (airpy's Flight DoGet)
//
// Both decode every record batch with arrow-go, so both pay the same client-side work.
package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	airpyv1 "github.com/airpy/airpy/generated/go/airpy/v1"
)

type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return false }

// chunks turns the FetchResult messages into one io.Reader: their concatenation is an Arrow IPC stream.
type chunks struct {
	stream airpyv1.JobService_FetchResultClient
	buf    []byte
	bytes  int64
}

func (c *chunks) Read(p []byte) (int, error) {
	for len(c.buf) == 0 {
		msg, err := c.stream.Recv()
		if err != nil {
			return 0, err // io.EOF at the end of the stream
		}
		c.buf = msg.GetArrowIpc()
		c.bytes += int64(len(c.buf))
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}

func main() {
	mode := flag.String("mode", "airpy", "airpy or flight")
	addr := flag.String("addr", "", "server address")
	token := flag.String("token", "", "airpy JWT")
	job := flag.String("job", "", "airpy job token")
	ticket := flag.String("ticket", "", "airpy Flight ticket (hex)")
	runs := flag.Int("runs", 3, "reads; the fastest is reported")
	flag.Parse()

	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64 << 20)),
	}
	best := map[string]float64{"seconds": 1e18}
	for i := 0; i < *runs; i++ {
		var bytes, rows int64
		started := time.Now()
		var err error
		switch *mode {
		case "airpy":
			bytes, rows, err = readAirpy(*addr, *token, *job, opts)
		case "flight":
			bytes, rows, err = readFlight(*addr, []byte("result"), opts)
		case "airpy-flight":
			var raw []byte
			if raw, err = hex.DecodeString(*ticket); err == nil {
				bytes, rows, err = readFlight(*addr, raw, append(opts, grpc.WithPerRPCCredentials(bearer(*token))))
			}
		default:
			err = fmt.Errorf("unknown mode %q", *mode)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		seconds := time.Since(started).Seconds()
		if seconds < best["seconds"] {
			best = map[string]float64{"seconds": seconds, "bytes": float64(bytes), "rows": float64(rows)}
		}
	}
	out, _ := json.Marshal(best)
	fmt.Println(string(out))
}

func readAirpy(addr, token, job string, opts []grpc.DialOption) (int64, int64, error) {
	conn, err := grpc.NewClient(addr, append(opts, grpc.WithPerRPCCredentials(bearer(token)))...)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	id, err := strconv.ParseUint(job, 10, 64)
	if err != nil {
		return 0, 0, err
	}
	stream, err := airpyv1.NewJobServiceClient(conn).FetchResult(context.Background(), &airpyv1.FetchResultRequest{Token: id})
	if err != nil {
		return 0, 0, err
	}
	src := &chunks{stream: stream}
	reader, err := ipc.NewReader(src)
	if err != nil {
		return 0, 0, err
	}
	rows, err := countRows(reader)
	return src.bytes, rows, err
}

func readFlight(addr string, ticket []byte, opts []grpc.DialOption) (int64, int64, error) {
	client, err := flight.NewClientWithMiddleware(addr, nil, nil, opts...)
	if err != nil {
		return 0, 0, err
	}
	defer client.Close()
	stream, err := client.DoGet(context.Background(), &flight.Ticket{Ticket: ticket})
	if err != nil {
		return 0, 0, err
	}
	reader, err := flight.NewRecordReader(stream)
	if err != nil {
		return 0, 0, err
	}
	rows, err := countRows(reader.Reader)
	return 0, rows, err
}

// countRows decodes every record batch (the work a real client does) and counts the rows.
func countRows(reader *ipc.Reader) (int64, error) {
	defer reader.Release()
	var rows int64
	for reader.Next() {
		rows += reader.RecordBatch().NumRows()
	}
	if err := reader.Err(); err != nil && err != io.EOF {
		return 0, err
	}
	return rows, nil
}
