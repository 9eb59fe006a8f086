-- Demo storefront schema (SQLite). Kept in step with ../postgres/0001_storefront.sql: same
-- tables, columns and constraints, so the same schema.graphql statements run on both.
--
-- Conventions that keep results identical across backends:
--   * ids are integers (INTEGER PRIMARY KEY here, BIGINT identity on PostgreSQL);
--   * money is integer cents (price_cents, unit_price_cents): exact, no decimal types;
--   * timestamps are RFC 3339 UTC text, 'YYYY-MM-DDTHH:MM:SSZ' (TIMESTAMPTZ on PostgreSQL);
--   * booleans are declared BOOLEAN (stored as 0/1 by SQLite).

CREATE TABLE IF NOT EXISTS categories (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    slug        TEXT    NOT NULL UNIQUE,
    description TEXT
);

CREATE TABLE IF NOT EXISTS products (
    id          INTEGER PRIMARY KEY,
    sku         TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL,
    description TEXT,
    price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
    category_id INTEGER NOT NULL REFERENCES categories (id),
    in_stock    BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX IF NOT EXISTS products_category_id_idx ON products (category_id);

CREATE TABLE IF NOT EXISTS customers (
    id         INTEGER PRIMARY KEY,
    email      TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

CREATE TABLE IF NOT EXISTS orders (
    id          INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    status      TEXT    NOT NULL DEFAULT 'PLACED'
                CHECK (status IN ('PLACED', 'PAID', 'SHIPPED', 'DELIVERED', 'CANCELLED')),
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX IF NOT EXISTS orders_customer_id_idx ON orders (customer_id);

CREATE TABLE IF NOT EXISTS order_lines (
    id               INTEGER PRIMARY KEY,
    order_id         INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id       INTEGER NOT NULL REFERENCES products (id),
    quantity         INTEGER NOT NULL CHECK (quantity > 0),
    -- The product's price when the order was placed (prices change; orders do not).
    unit_price_cents INTEGER NOT NULL CHECK (unit_price_cents >= 0)
);
CREATE INDEX IF NOT EXISTS order_lines_order_id_idx ON order_lines (order_id);
CREATE INDEX IF NOT EXISTS order_lines_product_id_idx ON order_lines (product_id);
