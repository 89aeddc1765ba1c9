-- PostgreSQL only, after schema.sql (translated).  Each statement ends with a line "-- end".

-- Idle workers of every host LISTEN on pecsync_jobs: a job that becomes runnable (imported,
-- re-queued with new credentials, put back to retry_wait or pending) wakes them at once.
CREATE OR REPLACE FUNCTION pecsync_job_runnable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pecsync_jobs', '');
    RETURN NULL;
END;
$$;
-- end

CREATE OR REPLACE TRIGGER job_runnable
AFTER INSERT OR UPDATE OF state ON job
FOR EACH ROW WHEN (NEW.state IN ('pending', 'retry_wait'))
EXECUTE FUNCTION pecsync_job_runnable();
-- end

-- Claiming (claim_next_job) takes the pending job with the lowest id.  Over job_state_id the
-- planner walks the primary key instead, past every job done or running before the first
-- pending one (10,000 jobs, 7,000 done: 6.5 ms a claim under load, O(jobs done)); this
-- index holds the pending jobs alone, in id order.
CREATE INDEX IF NOT EXISTS job_pending_id ON job (id) WHERE state = 'pending';
-- end
