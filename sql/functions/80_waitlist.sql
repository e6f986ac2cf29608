-- 80_waitlist.sql: the waitlist (being written).  The hooks below are
-- called by 50_holds.sql and 60_bookings.sql.

-- seats of p_seats reserved for a live waitlist offer to someone else
CREATE OR REPLACE FUNCTION evently.seats_offered_to_others(p_event uuid,
    p_seats uuid[], p_user uuid)
RETURNS uuid[]
LANGUAGE sql STABLE AS $$
    SELECT '{}'::uuid[]
$$;

-- a booking was confirmed from p_hold: the offer behind it, if any, is won
CREATE OR REPLACE FUNCTION evently.waitlist_hold_converted(p_hold uuid,
    p_user uuid, p_booking uuid)
RETURNS int
LANGUAGE sql AS $$
    SELECT 0
$$;
