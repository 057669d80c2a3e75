"""The results store: frames as Arrow IPC stream files, one folder (or key prefix) per job.

frames   what a frame is (FrameMeta), how one attempt writes its frames, load_frame
store    the ResultsStore protocol and open_results (PY_RESULTS_DIR)
folder   the folder store (default: PY_DATA_DIR/results)
bucket   the S3-compatible bucket store (PY_RESULTS_DIR=s3://bucket/prefix)
"""
