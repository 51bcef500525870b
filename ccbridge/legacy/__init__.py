"""Bring cc-bridge (Go) users along: legacy imports and engine copies.

Import (``ccbridge import``, and :func:`importer.import_on_start` at start):
  importer        which files, markers, the one transaction, the report
  config_json     config.json → channels + settings (Go loader fix-ups)
  pricing_json, aliases_json, usage_json   the other JSON files
  go_config_db    the configuration tables of a database-mode cc-bridge.db
  legacy_db       request_logs.db / cc-bridge.db log tables → rows
  legacy_sql      the one reader of a foreign SQLite file (read-only)
  row_mapper      foreign columns → typed rows, a column at a time
  channel_map     legacy pool positions → stable channel ids
  timestamps, jsonread, report, errors   shared pieces
Copy (``ccbridge dbmigrate``):
  dbmigrate       copy, resume, verify; checksum, sqldump, targets,
                  progress, sequences
  table_layout    a table's columns as typed tuples (no row objects)
  row_readers, row_writers   stream a table out, write batches in
  pg_binary       rows in binary COPY format (also what checksums hash)
  copy_sql, secondary_indexes   binary COPY, index DDL; indexes off while loading
Nothing runs at import time; ``cli`` holds the argparse wiring.
"""

__all__ = ()
