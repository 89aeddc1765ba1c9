"""Report wording in Italian (default: the readers are Italian orders) and English."""

from __future__ import annotations

LANGS = ("it", "en")

STATE_LABEL = {
    "it": {
        "waiting_credentials": "In attesa della password",
        "pending": "Da avviare",
        "running": "Copia in corso",
        "done": "Completata e verificata",
        "done_with_exceptions": "Completata con eccezioni (messaggi in quarantena)",
        "blocked_invalid_credentials": "Password rifiutata",
        "blocked_2fa": "Verifica in due passaggi attiva",
        "blocked_credentials_changed": "Password cambiata durante la copia",
        "blocked_destination_full": "Nuova casella piena",
        "retry_wait": "Nuovo tentativo programmato",
        "failed": "Non riuscita",
    },
    "en": {
        "waiting_credentials": "Waiting for the password",
        "pending": "Not started",
        "running": "Copying",
        "done": "Copied and verified",
        "done_with_exceptions": "Done with exceptions (messages in quarantine)",
        "blocked_invalid_credentials": "Password refused",
        "blocked_2fa": "2-step verification on",
        "blocked_credentials_changed": "Password changed during the copy",
        "blocked_destination_full": "New mailbox full",
        "retry_wait": "Retry scheduled",
        "failed": "Failed",
    },
}

REASON = {
    "it": {
        "waiting_credentials": "La password della casella non è ancora arrivata.",
        "blocked_invalid_credentials": "Il vecchio gestore ha rifiutato la password indicata.",
        "blocked_2fa": "Sulla casella è attiva la verifica in due passaggi: il vecchio gestore "
                       "rifiuta l'accesso dei programmi.",
        "blocked_credentials_changed": "La password è stata cambiata dopo l'avvio della copia "
                                       "(oppure la password per le app è scaduta).",
        "blocked_destination_full": "La nuova casella ha esaurito lo spazio.",
        "failed": "La copia non è riuscita.",
        "retry_wait": "Errore temporaneo di rete o del server: nuovo tentativo automatico.",
        "done_with_exceptions": "Copiata e verificata, ma il nuovo gestore ha rifiutato alcuni "
                                "messaggi: sono conservati intatti nella quarantena.",
    },
    "en": {
        "waiting_credentials": "The mailbox password has not arrived yet.",
        "blocked_invalid_credentials": "The old provider refused the password given.",
        "blocked_2fa": "2-step verification is on: the old provider refuses mail programs.",
        "blocked_credentials_changed": "The password was changed after the copy started (or the "
                                       "app password expired).",
        "blocked_destination_full": "The new mailbox is out of space.",
        "failed": "The copy failed.",
        "retry_wait": "Temporary network or server error: retried automatically.",
        "done_with_exceptions": "Copied and verified, but the new provider refused some "
                                "messages: they are kept intact in the quarantine.",
    },
}

NEXT_STEP = {
    "it": {
        "waiting_credentials": "L'iscritto invii la password della casella PEC (modulo o "
                               "lista dell'ordine).",
        "blocked_invalid_credentials": "L'iscritto verifichi e invii di nuovo la password "
                                       "corretta.",
        "blocked_2fa": "L'iscritto disattivi la verifica in due passaggi oppure generi una "
                       "password per le app, poi la invii.",
        "blocked_credentials_changed": "L'iscritto invii la nuova password: la copia riprende "
                                       "da dove si era fermata.",
        "blocked_destination_full": "Il gestore aumenti lo spazio della nuova casella: la copia "
                                    "riprende senza perdite.",
        "failed": "Il gestore verifichi il motivo e rilanci la copia (pecsync retry).",
        "retry_wait": "Nessuna azione: pecsync riprova da solo.",
        "done_with_exceptions": "Il gestore esamini i messaggi in quarantena e li carichi a "
                                "mano, oppure corregga la nuova casella e rilanci la copia "
                                "(pecsync retry).",
    },
    "en": {
        "waiting_credentials": "The member sends the PEC mailbox password (form or the "
                               "order's list).",
        "blocked_invalid_credentials": "The member checks and re-submits the right password.",
        "blocked_2fa": "The member turns 2-step verification off or creates an app password, "
                       "then re-submits it.",
        "blocked_credentials_changed": "The member re-submits the new password: the copy "
                                       "resumes where it stopped.",
        "blocked_destination_full": "The operator raises the new mailbox's quota: the copy "
                                    "resumes with nothing lost.",
        "failed": "The operator checks the reason and runs the copy again (pecsync retry).",
        "retry_wait": "Nothing: pecsync retries by itself.",
        "done_with_exceptions": "The operator looks at the quarantined messages and stores "
                                "them by hand, or fixes the new mailbox and runs the copy "
                                "again (pecsync retry).",
    },
}

TEXT = {
    "it": {
        "title": "Resoconto migrazione PEC",
        "overall": "Tutti gli ordini",
        "mailboxes": "caselle",
        "messages": "messaggi",
        "copied_of": "copiati su",
        "verified": "verificate",
        "deadline": "Scadenza",
        "days_left": "giorni rimanenti",
        "projected": "Completamento previsto",
        "not_projectable": "non stimabile (nessuna casella completata finora)",
        "at_risk": "Caselle a rischio",
        "final_sync": "sincronizzazione finale dopo il passaggio",
        "last_sync": "Ultima sincronizzazione",
        "final": "finale",
        "changes": "Novità dal resoconto precedente",
        "since": "rispetto al",
        "no_previous": "primo resoconto",
        "newly_done": "Completate",
        "newly_blocked": "Bloccate",
        "newly_failed": "Non riuscite",
        "new_mailboxes": "Nuove caselle in lista",
        "needs_action": "Caselle che richiedono un intervento",
        "mailbox": "Casella",
        "state": "Stato",
        "reason": "Motivo",
        "next_step": "Cosa fare",
        "progress": "Avanzamento nel tempo (caselle completate)",
        "all_mailboxes": "Tutte le caselle",
        "none": "nessuna",
        "generated": "Generato il",
        "risk_no_credentials": "password non ancora ricevuta",
        "risk_blocked": "bloccata",
        "risk_too_large": "troppo grande per finire in tempo al ritmo attuale",
        "order": "Ordine",
        "legend_done": "completate e verificate",
        "legend_running": "in corso, da avviare o in nuovo tentativo",
        "legend_waiting": "in attesa della password",
        "legend_blocked": "bloccate o non riuscite",
        "no_data": "caselle senza dati, mai lette: bloccate o in attesa",
        "projected_runnable": "Completamento previsto delle caselle avviabili",
        "excluded": "escluse dalla stima: bloccate o in attesa",
        "timezone": "ora italiana",
        "late_additions": "Richieste dal modulo web per indirizzi non in elenco",
        "late_additions_hint": "aggiungerle all'elenco e reimportarlo",
        "self_enrolled": "Caselle aggiunte dagli iscritti (non in elenco, password confermata "
                         "dal gestore)",
        "self_enrolled_hint": "verificare che siano iscritti dell'ordine",
        "requests": "richieste",
        "last_request": "ultima",
        "password_from": "Password da",
    },
    "en": {
        "title": "PEC migration report",
        "overall": "All orders",
        "mailboxes": "mailboxes",
        "messages": "messages",
        "copied_of": "copied of",
        "verified": "verified",
        "deadline": "Deadline",
        "days_left": "days left",
        "projected": "Projected completion",
        "not_projectable": "cannot be projected (no mailbox finished yet)",
        "at_risk": "Mailboxes at risk",
        "final_sync": "final sync after the switch",
        "last_sync": "Last sync",
        "final": "final",
        "changes": "Since the previous report",
        "since": "compared with",
        "no_previous": "first report",
        "newly_done": "Done",
        "newly_blocked": "Blocked",
        "newly_failed": "Failed",
        "new_mailboxes": "New mailboxes in the list",
        "needs_action": "Mailboxes that need action",
        "mailbox": "Mailbox",
        "state": "State",
        "reason": "Reason",
        "next_step": "Next step",
        "progress": "Progress over time (mailboxes done)",
        "all_mailboxes": "All mailboxes",
        "none": "none",
        "generated": "Generated on",
        "risk_no_credentials": "no password yet",
        "risk_blocked": "blocked",
        "risk_too_large": "too large to finish in time at the current rate",
        "order": "Order",
        "legend_done": "copied and verified",
        "legend_running": "copying, not started or retrying",
        "legend_waiting": "waiting for the password",
        "legend_blocked": "blocked or failed",
        "no_data": "mailboxes without data, never read: blocked or waiting",
        "projected_runnable": "Projected completion of the runnable mailboxes",
        "excluded": "left out of the projection: blocked or waiting",
        "timezone": "Italian time",
        "late_additions": "Addresses asked for on the web page that are not in the list",
        "late_additions_hint": "add them to the list and re-import it",
        "self_enrolled": "Mailboxes added by members (not in the list, password confirmed by "
                         "the provider)",
        "self_enrolled_hint": "check that they are members of the order",
        "requests": "requests",
        "last_request": "last",
        "password_from": "Password from",
    },
}

#: The ``detail`` column in Italian: what happened, by error class (the English text of the
#: engine stays in ``status`` and the English report).  The server's own answer, when the
#: detail quotes one (``[CODE] text``), follows it verbatim.
DETAIL_IT = {
    "auth_failed": "Il server ha rifiutato l'accesso con la password indicata.",
    "credentials_changed": "Il vecchio gestore ha rifiutato una password che prima "
                           "funzionava: è stata cambiata.",
    "twofa": "Il vecchio gestore rifiuta l'accesso: verifica in due passaggi attiva.",
    "dst_full": "La nuova casella ha esaurito lo spazio.",
    "transient": "Errore temporaneo di rete o del server.",
    "tls": "Connessione protetta (TLS) non riuscita.",
    "folder": "Errore durante la copia di una cartella.",
    "verify": "La verifica ha trovato differenze tra originale e copia.",
    "message_refused": "Il nuovo gestore ha rifiutato un messaggio.",
    "quarantined": "Il nuovo gestore ha rifiutato alcuni messaggi: sono conservati intatti "
                   "nella quarantena accanto al database di stato.",
    "no_credentials": "Manca la password della vecchia casella.",
    "no_dest_credentials": "Manca la password della nuova casella.",
    "interrupted": "Copia interrotta dall'operatore: riprende al prossimo avvio.",
    "lease_lost": "La copia è passata a un altro processo di pecsync.",
    "store": "Errore del database di stato di pecsync.",
    "internal": "Errore interno di pecsync (segnalato al gestore).",
    "imap": "Errore del server IMAP.",
}
