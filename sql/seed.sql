-- seed.sql: the sample data of shared/seed-data.json. Reloadable: empties
-- every data table first (not evently.schema_migrations). Needs the schema
-- (sql/migrations) and sql/functions/00_common.sql (generate_seats).
-- Runs as one transaction of its own.
--
-- Every user's password is 'qwerty' (bcrypt, cost 10).
-- Event dates are relative to the time of seeding: today (UTC) + N days,
-- at 19:00 UTC. All events are 'published', currency INR.
--
-- Fixed ids (valid version-4 UUIDs: 00000000-0000-4000-8000-00000000XXXX):
--
--   users                                         email / role
--     00000000-0000-4000-8000-000000000001  Admin User   admin@gmail.com             ADMIN
--     00000000-0000-4000-8000-000000000002  Mit Shah     mitshah2406@gmail.com       USER
--     00000000-0000-4000-8000-000000000003  Mit Shah     mitshah2406.work@gmail.com  USER
--
--   tags                                          slug       color
--     00000000-0000-4000-8000-000000000101  Technology   technology #3B82F6
--     00000000-0000-4000-8000-000000000102  Music        music      #EF4444
--     00000000-0000-4000-8000-000000000103  Sports       sports     #10B981
--     00000000-0000-4000-8000-000000000104  Business     business   #8B5CF6
--     00000000-0000-4000-8000-000000000105  Arts         arts       #F59E0B
--     00000000-0000-4000-8000-000000000106  Food         food       #EC4899
--
--   venue templates
--     00000000-0000-4000-8000-000000000201  Small Theater    THEATER     26 seats
--     00000000-0000-4000-8000-000000000202  Conference Hall  CONFERENCE  28 seats
--
--   venue sections                                template         rows  seats
--     00000000-0000-4000-8000-000000000301  Premium   Small Theater    A     A1..A13
--     00000000-0000-4000-8000-000000000302  Standard  Small Theater    B     B1..B13
--     00000000-0000-4000-8000-000000000303  VIP       Conference Hall  A     A1..A8
--     00000000-0000-4000-8000-000000000304  General   Conference Hall  B..C  B1..B10, C1..C10
--   (seat ids are random: look them up by section_id + seat_number)
--
--   events                                  template  days  base     multipliers          tags
--     ...0401  Tech Conference 2024          Conf.     +30  1500.00  VIP 2.0, General 1.0  technology, business
--     ...0402  Classical Music Evening       Theater   +45   800.00  Premium 1.8, Std 1.0  music, arts
--     ...0403  Startup Pitch Night           Conf.     +15   500.00  VIP 1.5, General 1.0  technology, business
--     ...0404  Food & Wine Festival          Theater   +60  1200.00  Premium 1.5, Std 1.0  food
--     ...0405  Art Gallery Opening           Theater   +25   600.00  Premium 1.3, Std 1.0  arts
--     ...0406  Sports Analytics Summit       Conf.     +90  2000.00  VIP 2.5, General 1.0  sports, technology, business
--   (...0401 = 00000000-0000-4000-8000-000000000401, and so on)
--
--   cancellation policies (...0501..0506 for events ...0401..0406)
--     event  allow  deadline         fee                refund days
--     0401   yes    event - 7 days   PERCENTAGE 10.00   5
--     0402   yes    event - 3 days   FIXED      50.00   3
--     0403   yes    event - 1 day    PERCENTAGE 25.00   7
--     0404   NO     event time       NONE        0.00   0
--     0405   yes    event - 5 days   PERCENTAGE  5.00   5
--     0406   yes    event - 10 days  FIXED     100.00   10

BEGIN;

TRUNCATE
    evently.outbox,
    evently.idempotency_keys,
    evently.waitlist_entries,
    evently.cancellations,
    evently.payments,
    evently.booking_seats,
    evently.bookings,
    evently.cancellation_policies,
    evently.event_tags,
    evently.event_section_pricing,
    evently.events,
    evently.seats,
    evently.venue_sections,
    evently.venue_templates,
    evently.tags,
    evently.refresh_tokens,
    evently.users
RESTART IDENTITY CASCADE;


-- Users ('qwerty')
INSERT INTO evently.users (id, first_name, last_name, email, password_hash,
                           role)
VALUES
    ('00000000-0000-4000-8000-000000000001', 'Admin', 'User',
     'admin@gmail.com',
     '$2b$10$a8fwyE4F7NDYEZJtZ5H1OOCwfBwnlhgqxf589PnzDw8KQHdhDqNnW', 'ADMIN'),
    ('00000000-0000-4000-8000-000000000002', 'Mit', 'Shah',
     'mitshah2406@gmail.com',
     '$2b$10$a8fwyE4F7NDYEZJtZ5H1OOCwfBwnlhgqxf589PnzDw8KQHdhDqNnW', 'USER'),
    ('00000000-0000-4000-8000-000000000003', 'Mit', 'Shah',
     'mitshah2406.work@gmail.com',
     '$2b$10$a8fwyE4F7NDYEZJtZ5H1OOCwfBwnlhgqxf589PnzDw8KQHdhDqNnW', 'USER');


-- Tags
INSERT INTO evently.tags (id, name, slug, description, color)
VALUES
    ('00000000-0000-4000-8000-000000000101', 'Technology', 'technology',
     'Technology and innovation events', '#3B82F6'),
    ('00000000-0000-4000-8000-000000000102', 'Music', 'music',
     'Musical performances and concerts', '#EF4444'),
    ('00000000-0000-4000-8000-000000000103', 'Sports', 'sports',
     'Sporting events and competitions', '#10B981'),
    ('00000000-0000-4000-8000-000000000104', 'Business', 'business',
     'Business conferences and networking', '#8B5CF6'),
    ('00000000-0000-4000-8000-000000000105', 'Arts', 'arts',
     'Art exhibitions and cultural events', '#F59E0B'),
    ('00000000-0000-4000-8000-000000000106', 'Food', 'food',
     'Culinary events and food festivals', '#EC4899');


-- Venue templates, sections, seats
INSERT INTO evently.venue_templates (id, name, description, default_rows,
                                     default_seats_per_row, layout_type)
VALUES
    ('00000000-0000-4000-8000-000000000201', 'Small Theater',
     'Intimate theater with premium and standard seating', 2, 13, 'THEATER'),
    ('00000000-0000-4000-8000-000000000202', 'Conference Hall',
     'Professional conference hall with premium and general seating', 2, 13,
     'CONFERENCE');

INSERT INTO evently.venue_sections (id, template_id, name, description,
                                    row_start, row_end, seats_per_row,
                                    total_seats)
VALUES
    ('00000000-0000-4000-8000-000000000301',
     '00000000-0000-4000-8000-000000000201', 'Premium',
     'Premium seating with the best view', 'A', 'A', 13, 13),
    ('00000000-0000-4000-8000-000000000302',
     '00000000-0000-4000-8000-000000000201', 'Standard',
     'Standard seating with good view', 'B', 'B', 13, 13),
    ('00000000-0000-4000-8000-000000000303',
     '00000000-0000-4000-8000-000000000202', 'VIP',
     'VIP seating with premium amenities', 'A', 'A', 8, 8),
    ('00000000-0000-4000-8000-000000000304',
     '00000000-0000-4000-8000-000000000202', 'General',
     'General seating for all attendees', 'B', 'C', 10, 20);

DO $$
DECLARE
    v_id  uuid;
BEGIN
    FOR v_id IN SELECT id FROM evently.venue_sections ORDER BY id LOOP
        PERFORM evently.generate_seats(v_id);
    END LOOP;
END
$$;


-- Events: today (UTC) + days_from_now, at 19:00 UTC
INSERT INTO evently.events (id, name, description, venue, venue_template_id,
                            date_time, base_price, currency, status,
                            created_by)
SELECT e.id::uuid, e.name, e.description, e.venue, e.template_id::uuid,
       (date_trunc('day', now() AT TIME ZONE 'UTC')
        + make_interval(days => e.days, hours => 19)) AT TIME ZONE 'UTC',
       e.base_price, 'INR', 'published',
       '00000000-0000-4000-8000-000000000001'
FROM (VALUES
    ('00000000-0000-4000-8000-000000000401', 'Tech Conference 2024',
     'Annual technology conference featuring the latest innovations and '
     'industry leaders.',
     'Tech Hub Convention Center',
     '00000000-0000-4000-8000-000000000202', 30, 1500.00::numeric(12,2)),
    ('00000000-0000-4000-8000-000000000402', 'Classical Music Evening',
     'An elegant evening of classical music performed by renowned '
     'musicians.',
     'Grand Opera House',
     '00000000-0000-4000-8000-000000000201', 45, 800.00),
    ('00000000-0000-4000-8000-000000000403', 'Startup Pitch Night',
     'Watch promising startups pitch their ideas to investors and industry '
     'experts.',
     'Innovation Center',
     '00000000-0000-4000-8000-000000000202', 15, 500.00),
    ('00000000-0000-4000-8000-000000000404', 'Food & Wine Festival',
     'A delightful festival celebrating local cuisine and fine wines.',
     'Central Park Pavilion',
     '00000000-0000-4000-8000-000000000201', 60, 1200.00),
    ('00000000-0000-4000-8000-000000000405', 'Art Gallery Opening',
     'Opening night of contemporary art exhibition featuring local and '
     'international artists.',
     'Modern Art Museum',
     '00000000-0000-4000-8000-000000000201', 25, 600.00),
    ('00000000-0000-4000-8000-000000000406', 'Sports Analytics Summit',
     'Conference on the future of sports analytics and data-driven decision '
     'making.',
     'Sports Complex Conference Room',
     '00000000-0000-4000-8000-000000000202', 90, 2000.00)
) AS e (id, name, description, venue, template_id, days, base_price);


-- Event tags (by slug)
INSERT INTO evently.event_tags (event_id, tag_id)
SELECT et.event_id::uuid, t.id
FROM (VALUES
    ('00000000-0000-4000-8000-000000000401', 'technology'),
    ('00000000-0000-4000-8000-000000000401', 'business'),
    ('00000000-0000-4000-8000-000000000402', 'music'),
    ('00000000-0000-4000-8000-000000000402', 'arts'),
    ('00000000-0000-4000-8000-000000000403', 'technology'),
    ('00000000-0000-4000-8000-000000000403', 'business'),
    ('00000000-0000-4000-8000-000000000404', 'food'),
    ('00000000-0000-4000-8000-000000000405', 'arts'),
    ('00000000-0000-4000-8000-000000000406', 'sports'),
    ('00000000-0000-4000-8000-000000000406', 'technology'),
    ('00000000-0000-4000-8000-000000000406', 'business')
) AS et (event_id, slug)
JOIN evently.tags AS t ON t.slug = et.slug;


-- Section pricing multipliers
INSERT INTO evently.event_section_pricing (event_id, section_id,
                                           price_multiplier)
VALUES
    -- Tech Conference 2024 (Conference Hall)
    ('00000000-0000-4000-8000-000000000401',
     '00000000-0000-4000-8000-000000000303', 2.00),
    ('00000000-0000-4000-8000-000000000401',
     '00000000-0000-4000-8000-000000000304', 1.00),
    -- Classical Music Evening (Small Theater)
    ('00000000-0000-4000-8000-000000000402',
     '00000000-0000-4000-8000-000000000301', 1.80),
    ('00000000-0000-4000-8000-000000000402',
     '00000000-0000-4000-8000-000000000302', 1.00),
    -- Startup Pitch Night (Conference Hall)
    ('00000000-0000-4000-8000-000000000403',
     '00000000-0000-4000-8000-000000000303', 1.50),
    ('00000000-0000-4000-8000-000000000403',
     '00000000-0000-4000-8000-000000000304', 1.00),
    -- Food & Wine Festival (Small Theater)
    ('00000000-0000-4000-8000-000000000404',
     '00000000-0000-4000-8000-000000000301', 1.50),
    ('00000000-0000-4000-8000-000000000404',
     '00000000-0000-4000-8000-000000000302', 1.00),
    -- Art Gallery Opening (Small Theater)
    ('00000000-0000-4000-8000-000000000405',
     '00000000-0000-4000-8000-000000000301', 1.30),
    ('00000000-0000-4000-8000-000000000405',
     '00000000-0000-4000-8000-000000000302', 1.00),
    -- Sports Analytics Summit (Conference Hall)
    ('00000000-0000-4000-8000-000000000406',
     '00000000-0000-4000-8000-000000000303', 2.50),
    ('00000000-0000-4000-8000-000000000406',
     '00000000-0000-4000-8000-000000000304', 1.00);


-- Cancellation policies: deadline = event time - interval. Food & Wine
-- Festival does not allow cancellation (as seed-data.json says; the
-- original stored true there only through a GORM default-value quirk).
INSERT INTO evently.cancellation_policies (id, event_id, allow_cancellation,
                                           cancellation_deadline, fee_type,
                                           fee_amount,
                                           refund_processing_days)
SELECT p.id::uuid, e.id, p.allow, e.date_time - p.before, p.fee_type,
       p.fee_amount, p.refund_days
FROM (VALUES
    ('00000000-0000-4000-8000-000000000501',
     '00000000-0000-4000-8000-000000000401', true, interval '7 days',
     'PERCENTAGE', 10.00::numeric(12,2), 5),
    ('00000000-0000-4000-8000-000000000502',
     '00000000-0000-4000-8000-000000000402', true, interval '3 days',
     'FIXED', 50.00, 3),
    ('00000000-0000-4000-8000-000000000503',
     '00000000-0000-4000-8000-000000000403', true, interval '1 day',
     'PERCENTAGE', 25.00, 7),
    ('00000000-0000-4000-8000-000000000504',
     '00000000-0000-4000-8000-000000000404', false, interval '0',
     'NONE', 0.00, 0),
    ('00000000-0000-4000-8000-000000000505',
     '00000000-0000-4000-8000-000000000405', true, interval '5 days',
     'PERCENTAGE', 5.00, 5),
    ('00000000-0000-4000-8000-000000000506',
     '00000000-0000-4000-8000-000000000406', true, interval '10 days',
     'FIXED', 100.00, 10)
) AS p (id, event_id, allow, before, fee_type, fee_amount, refund_days)
JOIN evently.events AS e ON e.id = p.event_id::uuid;

COMMIT;
