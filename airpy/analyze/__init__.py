"""Analysis of frames: EDA and profiles, validation rules, anomalies, forecasts, LLM insights."""
