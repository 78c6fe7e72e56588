"""Writers that put tags into the photo library: XMP sidecars, embedded keywords, caption files.

settings (option values) -> library (filters, then each target) -> sidecar / embed / captions, sharing
merge (keyword merging with an origin prefix) and xmp (the XMP packet as XML). Nothing heavy at import.
"""
