-- sqlite3 on an in-memory database: insert rows through a recursive CTE, build indexes, run joins,
-- aggregates and updates. Deterministic output (ORDER BY everywhere).
CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT, city TEXT, score INTEGER);
CREATE TABLE orders(id INTEGER PRIMARY KEY, user_id INTEGER, amount INTEGER, note TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60000)
INSERT INTO users SELECT i, 'user' || i || substr('abcdefghij', 1 + i % 10), 'city' || (i % 97), (i * 7919) % 1000 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
INSERT INTO orders SELECT i, 1 + (i * 31) % 60000, (i * 17) % 500, printf('note-%d-%s', i, hex(i * 13)) FROM n;
CREATE INDEX users_city ON users(city, score);
CREATE INDEX orders_user ON orders(user_id, amount);
SELECT city, count(*), sum(score) FROM users GROUP BY city ORDER BY city LIMIT 5;
SELECT u.city, count(o.id), sum(o.amount) FROM users u JOIN orders o ON o.user_id = u.id
  GROUP BY u.city ORDER BY sum(o.amount) DESC, u.city LIMIT 5;
UPDATE orders SET note = note || '-' || amount WHERE amount % 3 = 0;
SELECT count(*), sum(length(note)) FROM orders;
SELECT name FROM users WHERE id IN (SELECT user_id FROM orders WHERE amount > 490) ORDER BY name LIMIT 5;
SELECT count(DISTINCT note), max(length(name)) FROM orders JOIN users ON users.id = orders.user_id;
DELETE FROM orders WHERE amount < 100;
SELECT count(*), sum(amount) FROM orders;
