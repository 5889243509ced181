CREATE TABLE "outbox_wakeup" (
	"id" boolean PRIMARY KEY DEFAULT true NOT NULL,
	"relay_waiting" boolean DEFAULT true NOT NULL,
	"changed_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "outbox_wakeup_one_row" CHECK ("outbox_wakeup"."id")
);
