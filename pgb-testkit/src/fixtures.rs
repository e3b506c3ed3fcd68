//! Sample databases. `RICH_SCHEMA` exercises what dumps get wrong: several
//! schemas, quoted and non-ASCII identifiers, sequences, views, materialized
//! views, functions, triggers, jsonb, bytea, values large enough for TOAST,
//! NULLs and large objects.

use crate::Cluster;

pub const RICH_SCHEMA: &str = r#"
CREATE SCHEMA sales;
CREATE SCHEMA "Audit Trail";
CREATE SCHEMA "données";

CREATE SEQUENCE sales.invoice_seq START 1000 INCREMENT 7;

CREATE TABLE public.customers (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    email text UNIQUE,
    profile jsonb,
    avatar bytea,
    notes text,
    created_at timestamptz NOT NULL DEFAULT '2024-01-01 00:00:00+00'
);

CREATE TABLE sales.orders (
    id integer PRIMARY KEY DEFAULT nextval('sales.invoice_seq'),
    customer_id bigint REFERENCES public.customers(id),
    total numeric(12,2),
    status text CHECK (status IN ('new', 'paid', 'shipped')),
    lines jsonb NOT NULL DEFAULT '[]'
);
CREATE INDEX orders_customer_idx ON sales.orders (customer_id);

CREATE TABLE "Audit Trail"."Event Log" (
    "Id" serial PRIMARY KEY,
    "What Happened" text,
    at timestamptz DEFAULT '2024-01-01 00:00:00+00'
);

CREATE TABLE "données"."clients_été" (
    "numéro" integer PRIMARY KEY,
    "prénom" text,
    "ville" text
);

CREATE TABLE public.documents (
    id serial PRIMARY KEY,
    title text,
    body text,
    blob_oid oid
);

CREATE FUNCTION sales.order_total_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.total < 0 THEN
        RAISE EXCEPTION 'negative total';
    END IF;
    INSERT INTO "Audit Trail"."Event Log" ("What Happened") VALUES ('order ' || NEW.id);
    RETURN NEW;
END;
$$;
CREATE TRIGGER orders_audit AFTER INSERT ON sales.orders
    FOR EACH ROW EXECUTE FUNCTION sales.order_total_check();

CREATE FUNCTION public.customer_label(c public.customers) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT c.name || ' <' || coalesce(c.email, '?') || '>' $$;

INSERT INTO public.customers (name, email, profile, avatar, notes)
SELECT 'Customer ' || i,
       CASE WHEN i % 10 = 0 THEN NULL ELSE 'c' || i || '@example.com' END,
       jsonb_build_object('tier', i % 3, 'tags', jsonb_build_array('a', 'b' || i), 'nested', jsonb_build_object('x', i)),
       CASE WHEN i % 4 = 0 THEN NULL ELSE decode(md5(i::text) || md5((i * 7)::text), 'hex') END,
       CASE WHEN i % 50 = 0 THEN repeat(md5(i::text), 400) WHEN i % 7 = 0 THEN NULL ELSE 'note ' || i || E'\twith tab\nand newline' END
FROM generate_series(1, 600) AS i;

INSERT INTO sales.orders (customer_id, total, status, lines)
SELECT (i % 600) + 1, (i * 13 % 10000) / 100.0,
       (ARRAY['new', 'paid', 'shipped'])[i % 3 + 1],
       jsonb_build_array(jsonb_build_object('sku', 'SKU-' || i, 'qty', i % 5))
FROM generate_series(1, 900) AS i;

INSERT INTO "données"."clients_été" VALUES (1, 'Zoë', 'Zürich'), (2, 'Łukasz', 'Łódź'), (3, NULL, '東京');

INSERT INTO public.documents (title, body, blob_oid)
SELECT 'doc ' || i, repeat('Lorem ipsum ' || i || ' ', 3000), lo_from_bytea(0, decode(repeat(md5(i::text), 200), 'hex'))
FROM generate_series(1, 5) AS i;

CREATE VIEW sales.paid_orders AS SELECT * FROM sales.orders WHERE status = 'paid';
CREATE MATERIALIZED VIEW sales.totals_by_status AS
    SELECT status, count(*) AS n, sum(total) AS total FROM sales.orders GROUP BY status;
COMMENT ON TABLE public.customers IS 'Customers, with ünïcode comment';
ANALYZE;
"#;

/// Creates a database `name` filled with [`RICH_SCHEMA`].
pub fn create_rich_database(cluster: &Cluster, name: &str) {
    cluster.create_db(name);
    cluster.psql_script(name, RICH_SCHEMA);
}

/// Creates a small database with one table of `rows` rows.
pub fn create_small_database(cluster: &Cluster, name: &str, rows: u32) {
    cluster.create_db(name);
    cluster.psql(
        name,
        &format!(
            "CREATE TABLE items (id int PRIMARY KEY, label text); \
             INSERT INTO items SELECT i, 'item ' || i FROM generate_series(1, {rows}) i; ANALYZE items"
        ),
    );
}

/// Creates a database with one table of about `megabytes` MB of hard to
/// compress text, large enough that a dump takes a while to stream.
pub fn create_large_database(cluster: &Cluster, name: &str, megabytes: u32) {
    cluster.create_db(name);
    let rows = megabytes * 1024;
    cluster.psql(
        name,
        &format!(
            "CREATE TABLE payload (id int, data text); \
             INSERT INTO payload SELECT i, (SELECT string_agg(md5((i * 31 + j)::text), '') \
             FROM generate_series(1, 32) j) FROM generate_series(1, {rows}) i; ANALYZE payload"
        ),
    );
}

/// Writes `count` manifests with sidecars (no data files) for ten databases,
/// one backup every six hours back from 2026-11-20T18:00Z, for tests of
/// catalogs too large to build with real dumps.
pub fn generate_manifests(dir: &std::path::Path, count: usize) {
    let newest = 1_795_197_600i64; // 2026-11-20T18:00:00Z
    for n in 0..count {
        let db = format!("db{}", n % 10);
        let step = i64::try_from(n / 10).unwrap();
        let seconds = newest - step * 6 * 3600;
        let started = chrono::DateTime::from_timestamp(seconds, 0)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let id = format!("{db}_{n:05}");
        let data = dir.join(format!("{id}.sql.gz"));
        let sha = format!("{:064x}", n);
        let record = serde_json::json!({
            "pgb": 1, "type": "backup", "id": id, "path": data,
            "database": db, "kind": "database", "format": "plain", "compression": "gzip",
            "level": 6, "bytes": 1000 + n % 7, "raw_bytes": 5000, "sha256": sha,
            "started_at": started, "finished_at": started, "pgb_version": "0.1.0",
            "connection": {}, "options": {}, "tables": [], "rows_exact": false
        });
        std::fs::write(dir.join(format!("{id}.sql.gz.json")), record.to_string()).unwrap();
        std::fs::write(
            dir.join(format!("{id}.sql.gz.sha256")),
            format!("{sha}  {id}.sql.gz\n"),
        )
        .unwrap();
    }
}
