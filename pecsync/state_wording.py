"""The one table of job-state wording: every state in Italian and English, in each voice.

Who reads what:

* **member** (``member``, ``member_step``): the state in plain words and the member's next
  step, on the member's status page (pecsync.web.app) and the order's dashboard
  (pecsync.web.admin);
* **reminder** (``reminder``): the first line of a reminder letter (pecsync.campaign.compose),
  for the states in which the member has to act; ``cli invite`` prints its English;
* **operator** (``operator_step``): the next step of ``status``, ``retry`` and the run summary
  (pecsync.engine.outcome.next_step), ``ADDRESS`` standing for the mailbox; the CLI speaks
  English;
* **report** (``report``, ``report_reason``, ``report_step``): the daily report's state
  label, reason and next step (pecsync.reports.daily, pecsync.reports.render);
* **notice** (``notice``): the ready-to-send notice for a member who must act, ``(subject,
  body)`` as ``string.Template`` texts (pecsync.reports.notices): sent in Italian only.

``None`` in a voice means "nothing to say there", on purpose (no next step for a copy that
is running); tests/unit/test_state_wording.py says which states may be silent in which voice, and
fails when a job state (pecsync.store.jobs.JobState) has no wording, or when another module
keeps a per-state table of its own.  Keys are the states' names (``JobState`` is a
``StrEnum``, so a ``JobState`` looks itself up); ``done_with_exceptions`` is the reports'
name for ``done`` with messages in the quarantine.  No imports: any layer may read it.
"""

from __future__ import annotations

from dataclasses import dataclass

LANGS = ("it", "en")
#: The reports' state for ``done`` with messages kept in the quarantine.
DONE_WITH_EXCEPTIONS = "done_with_exceptions"


@dataclass(frozen=True)
class Wording:
    """One state in one language, in each voice (see the module's docstring)."""

    member: str
    member_step: str
    operator_step: str | None
    report: str
    report_reason: str | None
    report_step: str | None
    reminder: str | None = None
    notice: tuple[str, str] | None = None


_NOTICE_CLOSING = (
    "\n\nLa preghiamo di non inviare la password per posta elettronica.\n\n"
    "Il vecchio servizio sarà disattivato il $deadline: la posta non trasferita entro "
    "quella data andrà persa.\n\nCordiali saluti,\n$order\n")

_NOTHING_IT = "Nessuna azione: non modifichi la password."
_NOTHING_EN = "Nothing to do: do not change your password."
_TOLD_IT = "Nessuna azione: l'ordine è stato avvisato."
_TOLD_EN = "Nothing to do: the order has been told."
_DONE_IT = Wording(
    member="Completata: tutti i messaggi sono stati copiati e verificati",
    member_step="Nessuna azione. Se riceve nuovi messaggi prima del passaggio, saranno "
                "trasferiti dall'ordine.",
    operator_step=None, report="Completata e verificata", report_reason=None,
    report_step=None)
_DONE_EN = Wording(
    member="Complete: every message was copied and verified",
    member_step="Nothing to do. Messages received before the switch will be moved by the "
                "order.",
    operator_step=None, report="Copied and verified", report_reason=None, report_step=None)

#: state → language → wording.  The order is the one the pages list the states in.
WORDING: dict[str, dict[str, Wording]] = {
    "waiting_credentials": {
        "it": Wording(
            member="In attesa della password",
            member_step="Inserisca la password attuale nel modulo.",
            operator_step="manca la password: aggiungerla all'elenco e reimportarlo, o "
                          "eseguire `pecsync retry --password-stdin`",
            report="In attesa della password",
            report_reason="La password della casella non è ancora arrivata.",
            report_step="L'iscritto invii la password della casella PEC (modulo o lista "
                        "dell'ordine).",
            reminder="Non ha ancora inserito la password della sua casella PEC: disattivi la "
                     "verifica in 2 passaggi (passi qui sotto), poi inserisca la password "
                     "attuale al suo link personale.",
            notice=("Migrazione della Sua casella PEC $address: serve la password",
                    "Gentile iscritto/a,\n\nper trasferire la Sua casella PEC $address al nuovo "
                    "gestore abbiamo bisogno della password attuale della casella. $how"
                    + _NOTICE_CLOSING)),
        "en": Wording(
            member="Waiting for the password",
            member_step="Enter your current password in the form.",
            operator_step="no password yet: add it to the list and re-import, or run "
                          "`pecsync retry --password-stdin`",
            report="Waiting for the password",
            report_reason="The mailbox password has not arrived yet.",
            report_step="The member sends the PEC mailbox password (form or the order's "
                        "list).",
            reminder="You have not entered your PEC mailbox's password yet: switch 2-step "
                     "verification off (steps below), then enter your current password at "
                     "your personal link."),
    },
    "pending": {
        "it": Wording(member="In coda: la copia inizierà a breve", member_step=_NOTHING_IT,
                      operator_step=None, report="Da avviare", report_reason=None,
                      report_step=None),
        "en": Wording(member="Queued: the copy starts shortly", member_step=_NOTHING_EN,
                      operator_step=None, report="Not started", report_reason=None,
                      report_step=None),
    },
    "running": {
        "it": Wording(member="Copia in corso", member_step=_NOTHING_IT, operator_step=None,
                      report="Copia in corso", report_reason=None, report_step=None),
        "en": Wording(member="Copying", member_step=_NOTHING_EN, operator_step=None,
                      report="Copying", report_reason=None, report_step=None),
    },
    "retry_wait": {
        "it": Wording(
            member="Copia sospesa per un problema temporaneo: riprenderà da sola",
            member_step=_NOTHING_IT,
            operator_step="nessuna azione: pecsync riprova da solo",
            report="Nuovo tentativo programmato",
            report_reason="Errore temporaneo di rete o del server: nuovo tentativo "
                          "automatico.",
            report_step="Nessuna azione: pecsync riprova da solo."),
        "en": Wording(
            member="Paused by a temporary problem: it resumes by itself",
            member_step=_NOTHING_EN,
            operator_step="nothing to do: pecsync retries automatically",
            report="Retry scheduled",
            report_reason="Temporary network or server error: retried automatically.",
            report_step="Nothing: pecsync retries by itself."),
    },
    "done": {"it": _DONE_IT, "en": _DONE_EN},
    "blocked_invalid_credentials": {
        "it": Wording(
            member="Ferma: la password non è stata accettata",
            member_step="Inserisca qui sotto la password attuale.",
            operator_step="la password è stata rifiutata: chiedere all'iscritto la password "
                          "corretta, poi reimportare l'elenco o eseguire `pecsync retry "
                          "--password-stdin`",
            report="Password rifiutata",
            report_reason="Il vecchio gestore ha rifiutato la password indicata.",
            report_step="L'iscritto verifichi e invii di nuovo la password corretta.",
            reminder="Il vecchio gestore ha rifiutato la password inserita. Forse è attiva la "
                     "verifica in 2 passaggi (anche se attivata tempo fa e dimenticata), o la "
                     "password non è quella attuale: controlli la verifica in 2 passaggi "
                     "(passi qui sotto), poi inserisca la password attuale al suo link "
                     "personale.",
            notice=("Migrazione della Sua casella PEC $address: password non valida",
                    "Gentile iscritto/a,\n\nil vecchio gestore ha rifiutato la password "
                    "indicata per la Sua casella PEC $address, quindi la copia dei Suoi "
                    "messaggi non è potuta iniziare. Verifichi la password (ad esempio "
                    "accedendo alla webmail del vecchio gestore) e la indichi di nuovo. $how"
                    + _NOTICE_CLOSING)),
        "en": Wording(
            member="Stopped: the password was not accepted",
            member_step="Enter your current password below.",
            operator_step="the password was refused: ask the member for the right password, "
                          "then re-import the list or run `pecsync retry --password-stdin`",
            report="Password refused",
            report_reason="The old provider refused the password given.",
            report_step="The member checks and re-submits the right password.",
            reminder="The old provider refused the password you entered. 2-step verification "
                     "may be on (even if you switched it on long ago and forgot), or the "
                     "password is not the current one: check 2-step verification (steps "
                     "below), then enter your current password at your personal link."),
    },
    "blocked_credentials_changed": {
        "it": Wording(
            member="Ferma: la password è stata cambiata durante la copia",
            member_step="Inserisca qui sotto la nuova password: la copia riprende da dove si "
                        "era fermata.",
            operator_step="la password è cambiata dopo l'avvio della copia (o una password "
                          "per le app è scaduta): inserire la nuova password nella pagina "
                          "dei membri o `pecsync retry ADDRESS --password-stdin`; la copia "
                          "riprende da dove si era fermata",
            report="Password cambiata durante la copia",
            report_reason="La password è stata cambiata dopo l'avvio della copia (oppure la "
                          "password per le app è scaduta).",
            report_step="L'iscritto invii la nuova password: la copia riprende da dove si "
                        "era fermata.",
            reminder="La password della sua casella è cambiata dopo che l'aveva inserita: "
                     "inserisca la nuova password al suo link personale.",
            notice=("Migrazione della Sua casella PEC $address: la password è cambiata",
                    "Gentile iscritto/a,\n\nla password della Sua casella PEC $address è stata "
                    "cambiata dopo l'avvio della copia, che si è quindi fermata. Indichi la "
                    "nuova password: la copia riprenderà da dove si era fermata e nessun "
                    "messaggio già copiato andrà perso. $how Per evitare altre interruzioni, "
                    "non modifichi la password fino al passaggio al nuovo gestore."
                    + _NOTICE_CLOSING)),
        "en": Wording(
            member="Stopped: the password changed during the copy",
            member_step="Enter the new password below: the copy resumes where it stopped.",
            operator_step="the password changed after the copy started (or an app password "
                          "expired): enter the new password on the intake page or `pecsync "
                          "retry ADDRESS --password-stdin`; the copy resumes where it stopped",
            report="Password changed during the copy",
            report_reason="The password was changed after the copy started (or the app "
                          "password expired).",
            report_step="The member re-submits the new password: the copy resumes where it "
                        "stopped.",
            reminder="Your mailbox's password changed after you entered it: enter the new "
                     "password at your personal link."),
    },
    "blocked_2fa": {
        "it": Wording(
            member="Ferma: verifica in due passaggi attiva",
            member_step="Disattivi la verifica in due passaggi presso il gestore attuale, poi "
                        "inserisca qui sotto la password.",
            operator_step="verifica in due passaggi attiva: l'iscritto deve disattivarla o "
                          "creare una password per le app, poi inviarla di nuovo",
            report="Verifica in due passaggi attiva",
            report_reason="Sulla casella è attiva la verifica in due passaggi: il vecchio "
                          "gestore rifiuta l'accesso dei programmi.",
            report_step="L'iscritto disattivi la verifica in due passaggi oppure generi una "
                        "password per le app, poi la invii.",
            reminder="La verifica in 2 passaggi è attiva sulla sua casella: la disattivi "
                     "(passi qui sotto), poi inserisca di nuovo la password al suo link "
                     "personale.",
            notice=("Migrazione della Sua casella PEC $address: verifica in due passaggi "
                    "attiva",
                    "Gentile iscritto/a,\n\nsulla Sua casella PEC $address è attiva la "
                    "verifica in due passaggi: finché è attiva, il vecchio gestore non "
                    "consente la copia dei Suoi messaggi. La disattivi dal pannello di "
                    "gestione della casella (alla voce sicurezza), poi indichi di nuovo la "
                    "password. $how Potrà riattivare la verifica in due passaggi sulla nuova "
                    "casella, a migrazione conclusa." + _NOTICE_CLOSING)),
        "en": Wording(
            member="Stopped: 2-step verification is on",
            member_step="Switch 2-step verification off at your current provider, then enter "
                        "your password below.",
            operator_step="2-step verification is on: the member must turn it off or give an "
                          "app password, then re-submit it",
            report="2-step verification on",
            report_reason="2-step verification is on: the old provider refuses mail "
                          "programs.",
            report_step="The member turns 2-step verification off or creates an app "
                        "password, then re-submits it.",
            reminder="2-step verification is on for your mailbox: switch it off (steps "
                     "below), then enter your password again at your personal link."),
    },
    "blocked_destination_full": {
        "it": Wording(
            member="Ferma: la nuova casella è piena", member_step=_TOLD_IT,
            operator_step="la casella di destinazione è piena: aumentarne la quota o liberare "
                          "spazio, poi eseguire `pecsync retry ADDRESS`; nulla va perso e la "
                          "copia riprende",
            report="Nuova casella piena",
            report_reason="La nuova casella ha esaurito lo spazio.",
            report_step="Il gestore aumenti lo spazio della nuova casella: la copia riprende "
                        "senza perdite."),
        "en": Wording(
            member="Stopped: the new mailbox is full", member_step=_TOLD_EN,
            operator_step="the destination mailbox is full: raise its quota or free space, "
                          "then run `pecsync retry ADDRESS`; nothing is lost and the copy "
                          "resumes",
            report="New mailbox full",
            report_reason="The new mailbox is out of space.",
            report_step="The operator raises the new mailbox's quota: the copy resumes with "
                        "nothing lost."),
    },
    "failed": {
        "it": Wording(
            member="Ferma per un problema tecnico", member_step=_TOLD_IT,
            operator_step="vedere il motivo; correggerlo, poi eseguire `pecsync retry ADDRESS`",
            report="Non riuscita",
            report_reason="La copia non è riuscita.",
            report_step="Il gestore verifichi il motivo e rilanci la copia (pecsync retry)."),
        "en": Wording(
            member="Stopped by a technical problem", member_step=_TOLD_EN,
            operator_step="see the reason; fix it, then run `pecsync retry ADDRESS`",
            report="Failed",
            report_reason="The copy failed.",
            report_step="The operator checks the reason and runs the copy again (pecsync "
                        "retry)."),
    },
    # The member's page and the dashboard show ``done``: the quarantine is the order's work.
    DONE_WITH_EXCEPTIONS: {
        "it": Wording(
            member=_DONE_IT.member, member_step=_DONE_IT.member_step,
            operator_step="esaminare i messaggi in quarantena e caricarli a mano, oppure "
                          "correggere la destinazione ed eseguire `pecsync retry ADDRESS`",
            report="Completata con eccezioni (messaggi in quarantena)",
            report_reason="Copiata e verificata, ma il nuovo gestore ha rifiutato alcuni "
                          "messaggi: sono conservati intatti nella quarantena.",
            report_step="Il gestore esamini i messaggi in quarantena e li carichi a mano, "
                        "oppure corregga la nuova casella e rilanci la copia (pecsync "
                        "retry)."),
        "en": Wording(
            member=_DONE_EN.member, member_step=_DONE_EN.member_step,
            operator_step="look at them and store them by hand, or fix the destination and "
                          "run `pecsync retry ADDRESS`",
            report="Done with exceptions (messages in quarantine)",
            report_reason="Copied and verified, but the new provider refused some messages: "
                          "they are kept intact in the quarantine.",
            report_step="The operator looks at the quarantined messages and stores them by "
                        "hand, or fixes the new mailbox and runs the copy again (pecsync "
                        "retry)."),
    },
}

#: The operator's next step for ``waiting_credentials`` when the source password is there
#: and the destination one is missing (error class ``no_dest_credentials``).
NO_DEST_PASSWORD_STEP = {
    "it": "manca la password della destinazione: aggiungere dest_password all'elenco e "
          "reimportarlo, o eseguire `pecsync retry ADDRESS --dest-password-stdin` (oppure "
          "impostare [destination] master_user)",
    "en": "no destination password yet: add dest_password to the list and re-import, or run "
          "`pecsync retry ADDRESS --dest-password-stdin` (or set [destination] master_user)",
}


def wording(state: str, lang: str = "it") -> Wording:
    """*state*'s words in *lang* (a ``JobState`` or its name; ``en`` for any language but
    Italian).

    >>> wording("blocked_2fa", "en").member
    'Stopped: 2-step verification is on'
    """
    return WORDING[str(state)]["it" if lang == "it" else "en"]


def report_state(state: str, quarantined: int) -> str:
    """The state a report names: ``done_with_exceptions`` for ``done`` with *quarantined*
    messages, else *state*.

    >>> report_state("done", 2), report_state("done", 0), report_state("failed", 2)
    ('done_with_exceptions', 'done', 'failed')
    """
    return DONE_WITH_EXCEPTIONS if str(state) == "done" and quarantined else str(state)


def job_states() -> list[str]:
    """The job states, in the order the pages list them (without the reports'
    ``done_with_exceptions``)."""
    return [s for s in WORDING if s != DONE_WITH_EXCEPTIONS]
