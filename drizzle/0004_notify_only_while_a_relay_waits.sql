-- Notify only while a relay waits for work (see outbox_wakeup in src/db/schema.ts).
-- A NOTIFY makes the committing writer take a database-wide lock; while the
-- relays are busy they claim again before going idle, so the notification
-- would wake nobody. A missing row or NULL notifies: the safe side.
INSERT INTO outbox_wakeup (id, relay_waiting) VALUES (true, true) ON CONFLICT (id) DO NOTHING;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT relay_waiting FROM outbox_wakeup WHERE id) IS NOT FALSE THEN
    PERFORM pg_notify('outbox', '');
  END IF;
  RETURN NULL;
END
$$;
