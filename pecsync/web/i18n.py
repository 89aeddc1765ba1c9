"""Words of the member pages: Italian first (the members' language), English at ``?lang=en``.

The Italian sentences of the federations' circulars are kept as they are written there."""

from __future__ import annotations

LANGS = ("it", "en")

TEXT: dict[str, dict[str, str]] = {
    "it": {
        "title": "Migrazione della casella PEC",
        "intro": "Per trasferire i messaggi della sua casella PEC al nuovo gestore inserisca "
                 "l'indirizzo PEC e la password attuale. La password viene verificata subito "
                 "con il gestore attuale e conservata cifrata solo per la durata della "
                 "migrazione.",
        "address": "Indirizzo PEC",
        "address_local_hint": "Basta la parte prima della @",
        "password": "Password attuale della casella PEC",
        "dst_password": "Password della nuova casella (presso il nuovo gestore)",
        "submit": "Avvia la migrazione",
        "checking": "Verifica in corso…",
        "noscript": "Per inviare il modulo è necessario JavaScript (una breve verifica "
                    "anti-robot viene eseguita nel suo browser, senza servizi esterni).",
        "honeypot": "Lasci vuoto questo campo",
        "privacy": "Non modifichi la password della casella PEC durante la migrazione.",
        "accepted_title": "Importazione avviata",
        "accepted": "L'importazione dei suoi messaggi PEC è iniziata. Per evitare di "
                    "interrompere il processo di migrazione non modifichi la password fino al "
                    "passaggio al nuovo gestore. Nel caso fosse necessario, è possibile avviare "
                    "nuovamente la procedura inserendo la nuova password.",
        "status_link_intro": "Conservi questo collegamento personale: mostra lo stato della "
                             "sua migrazione e permette di inserire una nuova password.",
        "status_link": "Stato della mia migrazione",
        "invalid_title": "Credenziali non valide",
        "invalid": "Credenziali non valide. Controlli l'indirizzo PEC e la password e riprovi.",
        "dest_invalid": "La password della nuova casella non è stata accettata dal nuovo "
                        "gestore. Controlli e riprovi.",
        "try_again": "Riprova",
        "twofa_title": "Verifica in due passaggi attiva",
        "twofa_what": "La sua casella PEC ha attiva la verifica in due passaggi (un codice "
                      "in più, oltre alla password, a ogni accesso). Con la verifica in due "
                      "passaggi attiva i messaggi non possono essere trasferiti.",
        "twofa_do": "Disattivi la verifica in due passaggi presso il gestore attuale "
                    "({provider}) prima della migrazione. Potrà riattivarla sulla nuova "
                    "casella dopo il passaggio al nuovo gestore.",
        "twofa_steps": "Come fare",
        "twofa_back": "Poi torni a questa pagina e inserisca di nuovo indirizzo e password.",
        "unknown_title": "Indirizzo non trovato",
        "unknown": "L'indirizzo {address} non risulta nell'elenco delle caselle da migrare. "
                   "Se la casella è stata attivata di recente, l'ordine deve ancora "
                   "aggiungerla: la sua richiesta è stata registrata.",
        "unknown_contact": "Per informazioni contatti l'ordine",
        "unavailable_title": "Servizio momentaneamente non disponibile",
        "unavailable": "Non è stato possibile contattare il gestore attuale per verificare la "
                       "password. Nulla è stato salvato. Riprovi più tardi.",
        "closed_title": "Procedura chiusa",
        "not_open": "La procedura di migrazione non è ancora aperta: sarà disponibile dal "
                    "{opens}.",
        "closed": "La procedura di migrazione è chiusa dal {closes}.",
        "contact": "Per informazioni",
        "rate_title": "Troppi tentativi",
        "rate": "Sono stati fatti troppi tentativi in poco tempo. Per proteggere la sua "
                "casella la verifica è sospesa: riprovi dopo le {time} del {date}.",
        "bad_title": "Richiesta non valida",
        "bad_form": "Il modulo non è stato compilato correttamente: {problem}",
        "csrf": "La pagina è scaduta o il modulo non proviene da questo sito. Ricarichi la "
                "pagina e riprovi.",
        "twice": "Questo modulo è già stato inviato. Ricarichi la pagina per un nuovo "
                 "tentativo.",
        "robot": "La verifica anti-robot non è riuscita. Ricarichi la pagina e attenda la "
                 "fine della verifica prima di inviare.",
        "expired": "Il modulo è scaduto. Ricarichi la pagina.",
        "too_fast": "Il modulo è stato inviato troppo in fretta. Ricarichi la pagina e "
                    "riprovi.",
        "missing": "manca un campo obbligatorio ({field})",
        "too_long": "un campo è troppo lungo ({field})",
        "bad_chars": "un campo contiene caratteri non ammessi ({field})",
        "bad_address": "l'indirizzo PEC non è valido",
        "encoding": "il testo inviato non è UTF-8",
        "not_found_title": "Pagina non trovata",
        "not_found": "La pagina richiesta non esiste o il collegamento non è più valido.",
        "error_title": "Errore",
        "error": "Si è verificato un problema temporaneo. Nulla è stato salvato. Riprovi tra "
                 "qualche minuto.",
        "status_title": "Stato della migrazione",
        "mailbox": "Casella",
        "state": "Stato",
        "messages": "Messaggi copiati",
        "messages_of": "{copied} di {total}",
        "not_counted": "non ancora contati",
        "updated": "Ultimo aggiornamento",
        "next": "Cosa fare",
        "new_password_title": "Ha cambiato la password?",
        "new_password_intro": "Se ha cambiato la password della casella PEC, inserisca qui "
                              "quella nuova: la migrazione riprende da dove si era fermata.",
        "new_password": "Nuova password",
        "send_new_password": "Invia la nuova password",
        "home": "Torna al modulo",
        "lang_other": "English",
        "field_address": "indirizzo",
        "field_password": "password",
        "field_dst_password": "password della nuova casella",
    },
    "en": {
        "title": "PEC mailbox migration",
        "intro": "To move the messages of your PEC mailbox to the new provider, enter your "
                 "PEC address and your current password. The password is checked at once with "
                 "your current provider and kept encrypted only while the migration runs.",
        "address": "PEC address",
        "address_local_hint": "The part before the @ is enough",
        "password": "Current password of the PEC mailbox",
        "dst_password": "Password of the new mailbox (at the new provider)",
        "submit": "Start the migration",
        "checking": "Checking…",
        "noscript": "Sending this form needs JavaScript (a short robot check runs in your "
                    "browser, without any outside service).",
        "honeypot": "Leave this field empty",
        "privacy": "Do not change the password of your PEC mailbox during the migration.",
        "accepted_title": "Import started",
        "accepted": "The import of your PEC messages has started. To avoid interrupting the "
                    "migration, do not change your password until the switch to the new "
                    "provider. If you must, you can start the procedure again by entering the "
                    "new password.",
        "status_link_intro": "Keep this personal link: it shows the state of your migration "
                             "and lets you enter a new password.",
        "status_link": "State of my migration",
        "invalid_title": "Invalid credentials",
        "invalid": "Invalid credentials. Check the PEC address and the password and try "
                   "again.",
        "dest_invalid": "The new provider did not accept the password of the new mailbox. "
                        "Check it and try again.",
        "try_again": "Try again",
        "twofa_title": "2-step verification is on",
        "twofa_what": "Your PEC mailbox has 2-step verification on (a code on top of the "
                      "password at each sign-in). With 2-step verification on, the messages "
                      "cannot be moved.",
        "twofa_do": "Switch 2-step verification off at your current provider ({provider}) "
                    "before the migration. You can switch it on again on the new mailbox after "
                    "the switch to the new provider.",
        "twofa_steps": "How",
        "twofa_back": "Then come back to this page and enter your address and password again.",
        "unknown_title": "Address not found",
        "unknown": "The address {address} is not in the list of mailboxes to migrate. If the "
                   "mailbox was activated recently, the order still has to add it: your "
                   "request has been recorded.",
        "unknown_contact": "For information contact the order",
        "unavailable_title": "Service temporarily unavailable",
        "unavailable": "Your current provider could not be reached to check the password. "
                       "Nothing was saved. Please try again later.",
        "closed_title": "Procedure closed",
        "not_open": "The migration procedure is not open yet: it opens on {opens}.",
        "closed": "The migration procedure closed on {closes}.",
        "contact": "For information",
        "rate_title": "Too many attempts",
        "rate": "Too many attempts in a short time. To protect your mailbox, checks are "
                "paused: try again after {time} on {date}.",
        "bad_title": "Invalid request",
        "bad_form": "The form was not filled in correctly: {problem}",
        "csrf": "The page has expired or the form does not come from this site. Reload the "
                "page and try again.",
        "twice": "This form was already sent. Reload the page for a new attempt.",
        "robot": "The robot check did not succeed. Reload the page and wait for the check to "
                 "finish before sending.",
        "expired": "The form has expired. Reload the page.",
        "too_fast": "The form was sent too quickly. Reload the page and try again.",
        "missing": "a required field is missing ({field})",
        "too_long": "a field is too long ({field})",
        "bad_chars": "a field holds characters that are not allowed ({field})",
        "bad_address": "the PEC address is not valid",
        "encoding": "the text sent is not UTF-8",
        "not_found_title": "Page not found",
        "not_found": "The page does not exist or the link is no longer valid.",
        "error_title": "Error",
        "error": "A temporary problem occurred. Nothing was saved. Please try again in a few "
                 "minutes.",
        "status_title": "Migration state",
        "mailbox": "Mailbox",
        "state": "State",
        "messages": "Messages copied",
        "messages_of": "{copied} of {total}",
        "not_counted": "not counted yet",
        "updated": "Last update",
        "next": "What to do",
        "new_password_title": "Did you change your password?",
        "new_password_intro": "If you changed the password of your PEC mailbox, enter the new "
                              "one here: the migration resumes where it stopped.",
        "new_password": "New password",
        "send_new_password": "Send the new password",
        "home": "Back to the form",
        "lang_other": "Italiano",
        "field_address": "address",
        "field_password": "password",
        "field_dst_password": "password of the new mailbox",
    },
}

# The member's own state in plain words, and the next step: pecsync.state_wording (member voice).

#: Steps to switch 2-step verification off when [intake] twofa_steps is not set (Aruba PEC's
#: webmail, as its guide describes them).
DEFAULT_TWOFA_STEPS = {
    "it": ("Acceda alla webmail del gestore attuale (per Aruba PEC: webmail.pec.it) con "
           "indirizzo, password e codice.",
           "Apra Impostazioni → Sicurezza → Verifica in due passaggi.",
           "Scelga «Disattiva» e confermi con il codice ricevuto.",
           "Esca dalla webmail."),
    "en": ("Sign in to your current provider's webmail (for Aruba PEC: webmail.pec.it) with "
           "address, password and code.",
           "Open Settings → Security → 2-step verification.",
           "Choose “Switch off” and confirm with the code you receive.",
           "Sign out of the webmail."),
}
