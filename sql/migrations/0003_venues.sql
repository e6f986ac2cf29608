-- 0003_venues.sql: what the admin seat routes need of the schema.
--
-- * PUT /admin/seats/{id} may rename a seat (the original API accepted any
--   seat_number, e.g. "A1-UPDATED"): seat_number is no longer forced to be
--   row_label || position, only 1..20 characters and unique in its section
--   (seats_section_seat_number_key).  Generated seats still follow the
--   "A12" / "11-1" pattern (evently.generate_seats); booking_seats keeps
--   its own snapshot of the number, so history is unaffected.
-- * DELETE /admin/seats/{id} removes one seat and decrements its section's
--   total_seats, so that total_seats always equals the section's seat
--   count: total_seats may now be below rows x seats_per_row (never
--   above, never 0: the last seat of a section cannot be deleted).
--   Regenerating the section's seats restores the full grid.
--
-- Applied once by the migrate script inside its transaction (no
-- BEGIN/COMMIT, no CONCURRENTLY).

ALTER TABLE evently.seats
    DROP CONSTRAINT seats_seat_number_check;

ALTER TABLE evently.seats
    ADD CONSTRAINT seats_seat_number_check
    CHECK (char_length(seat_number) BETWEEN 1 AND 20);

ALTER TABLE evently.venue_sections
    DROP CONSTRAINT venue_sections_total_seats_rows_check;

ALTER TABLE evently.venue_sections
    ADD CONSTRAINT venue_sections_total_seats_rows_check CHECK (
        CASE
        WHEN row_start ~ '^[A-Z]$' AND row_end ~ '^[A-Z]$'
            THEN total_seats
                 <= (ascii(row_end) - ascii(row_start) + 1) * seats_per_row
        WHEN row_start ~ '^[1-9][0-9]{0,3}$'
             AND row_end ~ '^[1-9][0-9]{0,3}$'
            THEN total_seats
                 <= (row_end::int - row_start::int + 1) * seats_per_row
        ELSE false
        END);
