"""The node's storage: SQLAlchemy Core tables on SQLite (WAL) or PostgreSQL."""
