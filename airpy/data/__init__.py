"""Files: base-path security, formats, discovery (and later readers, profiles, previews)."""
