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
        "accepted": "L'importazione dei suoi messaggi PEC è iniziata.",
        "status_link_intro": "Conservi questo collegamento personale: mostra lo stato della "
                             "sua migrazione e permette di inserire una nuova password.",
        "status_link": "Stato della mia migrazione",
        "invalid_title": "Credenziali non valide",
        "invalid": "Credenziali non valide. Controlli l'indirizzo PEC e la password e riprovi.",
        "dest_invalid": "La password della nuova casella non è stata accettata dal nuovo "
                        "gestore. Controlli e riprovi.",
        "try_again": "Riprova",
        "twofa_title": "Verifica in due passaggi attiva",
        "twofa_what": "La sua casella PEC ha attiva la verifica in due passaggi (una "
                      "conferma in più a ogni accesso, oltre alla password: un codice o una "
                      "notifica sul telefono). Con la verifica in due "
                      "passaggi attiva i messaggi non possono essere trasferiti.",
        "twofa_do": "Disattivi la verifica in due passaggi presso il gestore attuale "
                    "({provider}) prima della migrazione. Potrà riattivarla sulla nuova "
                    "casella dopo il passaggio al nuovo gestore.",
        "twofa_steps": "Come fare",
        "twofa_back": "Poi torni a questa pagina e inserisca di nuovo indirizzo e password.",
        "unknown_title": "Indirizzo non trovato",
        "unknown": "L'indirizzo {address} non risulta nell'elenco delle caselle da migrare. "
                   "Se la casella è stata attivata di recente, l'ordine deve ancora "
                   "aggiungerla.",
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
        # --- what the circulars say (issue 23) ---
        "deadline_title": "Scadenza: {deadline}",
        "deadline": "La migrazione può essere avviata fino al {deadline}. Dopo questa data i "
                    "pannelli del gestore attuale vengono disattivati: la posta ancora presente "
                    "va persa e la nuova casella resta vuota.",
        "same_address": "Il suo indirizzo PEC non cambia: non deve comunicare a nessuno un "
                        "nuovo indirizzo.",
        "only_domains": "La procedura riguarda solo le caselle {domains}. Se la sua PEC è di "
                        "un altro gestore (acquistata privatamente o fornita da un altro ente) "
                        "non deve fare nulla.",
        "before_title": "Prima di iniziare: disattivi la verifica in 2 passaggi",
        "before_intro": "Con la verifica in 2 passaggi attiva i messaggi non possono essere "
                        "trasferiti. Prima di inserire la password la disattivi presso "
                        "{provider}:",
        "before_again": "Potrà riattivarla sulla nuova casella dopo il passaggio al nuovo "
                        "gestore.",
        "menu_path": "Percorso",
        "no_change": "Non modifichi la password della casella PEC fino al passaggio al nuovo "
                     "gestore.",
        "invalid_causes": "Possibili cause",
        "cause_typo": "La password è stata scritta in modo errato (maiuscole e minuscole "
                      "contano).",
        "cause_twofa": "Sulla casella è attiva la verifica in 2 passaggi, magari attivata in "
                       "passato senza ricordarlo. La disattivi come spiegato qui sotto, poi "
                       "riprovi.",
        "cause_app": "Ha inserito una password per programmi: {provider} le fa scadere dopo "
                     "{months} mesi. Inserisca la password con cui accede alla webmail.",
        "cause_changed": "La password è stata cambiata di recente: inserisca quella attuale.",
        "recovery": "Password dimenticata? La recuperi presso {provider}:",
        "next_title": "Cosa succede ora",
        "next_copy": "I suoi messaggi vengono copiati nella nuova casella senza che lei debba "
                     "fare altro. Il suo indirizzo PEC non cambia e la posta continua ad "
                     "arrivare come sempre.",
        "next_close": "Può chiudere questa pagina.",
        "keep_password": "Per evitare di interrompere il processo di migrazione non modifichi "
                         "la password fino al passaggio al nuovo gestore{switch}. Se dovesse "
                         "farlo, ripeta la procedura con la nuova password.",
        "switch_on": " ({switch_at})",
        "enrolled": "La sua casella non era ancora nell'elenco dell'ordine: il gestore attuale "
                    "ha confermato la password e la casella è stata aggiunta.",
        "after_switch": "Dopo il passaggio acceda alla nuova casella dalla webmail del nuovo "
                        "gestore:",
        "switched_title": "Passaggio completato",
        "switched": "Il passaggio al nuovo gestore è avvenuto e l'ultima copia dei messaggi è "
                    "completata. Ora può anche riattivare la verifica in 2 passaggi sulla "
                    "nuova casella.",
        "switched_webmail": "Acceda alla sua casella dalla webmail del nuovo gestore:",
        "switched_no_webmail": "Per accedere alla nuova casella segua le indicazioni "
                               "dell'ordine.",
        "not_ours_title": "Nessuna procedura per questo indirizzo",
        "not_ours": "Questa procedura riguarda solo le caselle {domains}: l'indirizzo "
                    "{address} non ne fa parte. Se la sua PEC è di un altro gestore "
                    "(acquistata privatamente o fornita da un altro ente) non deve fare nulla. "
                    "Nulla è stato registrato.",
        "not_listed": "L'indirizzo {address} non risulta nell'elenco delle caselle da "
                      "migrare. Se la sua PEC è di un altro gestore (acquistata privatamente o "
                      "fornita da un altro ente) non deve fare nulla. Nulla è stato registrato.",
        "verified_title": "Indirizzo verificato",
        "verified_only": "La password di {address} è corretta, ma la casella non è ancora "
                         "nell'elenco dell'ordine. La richiesta è stata registrata: quando "
                         "l'ordine l'avrà aggiunta torni a questa pagina e inserisca di nuovo "
                         "la password.",
        "ceiling_title": "Casella protetta: troppi tentativi",
        "ceiling": "Per questa casella sono stati fatti troppi tentativi non riusciti, anche "
                   "da altri dispositivi. Per proteggerla presso il gestore la verifica è "
                   "sospesa: riprovi dopo le {time} del {date}.",
        "ceiling_link": "Se ha ricevuto dall'ordine il suo collegamento personale, può usarlo "
                        "anche adesso: funziona comunque.",
        "link_intro": "Questo è il suo collegamento personale: l'indirizzo è già inserito. "
                      "Inserisca la password attuale della casella PEC.",
        "link_unknown_title": "Collegamento non valido",
        "link_unknown": "Questo collegamento personale non è valido (forse è stato copiato "
                        "solo in parte). Può usare il modulo inserendo il suo indirizzo PEC.",
        "to_form": "Vai al modulo",
        "months": "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre "
                  "ottobre novembre dicembre",
        "date_format": "{day} {month} {year}",
        "time_format": "{date}, ore {time}",
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
        "accepted": "The import of your PEC messages has started.",
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
        "twofa_what": "Your PEC mailbox has 2-step verification on (one more confirmation "
                      "at each sign-in, on top of the password: a code or a notification on "
                      "the phone). With 2-step verification on, the messages "
                      "cannot be moved.",
        "twofa_do": "Switch 2-step verification off at your current provider ({provider}) "
                    "before the migration. You can switch it on again on the new mailbox after "
                    "the switch to the new provider.",
        "twofa_steps": "How",
        "twofa_back": "Then come back to this page and enter your address and password again.",
        "unknown_title": "Address not found",
        "unknown": "The address {address} is not in the list of mailboxes to migrate. If the "
                   "mailbox was activated recently, the order still has to add it.",
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
        # --- what the circulars say (issue 23) ---
        "deadline_title": "Deadline: {deadline}",
        "deadline": "The migration can be started until {deadline}. After that date the "
                    "current provider's panels are switched off: the mail still there is lost "
                    "and the new mailbox stays empty.",
        "same_address": "Your PEC address does not change: there is no new address to tell "
                        "anyone.",
        "only_domains": "Only mailboxes {domains} need this procedure. If your PEC comes from "
                        "another provider (bought privately or given by another body) you need "
                        "do nothing.",
        "before_title": "Before you start: switch 2-step verification off",
        "before_intro": "With 2-step verification on, the messages cannot be moved. Before "
                        "entering your password, switch it off at {provider}:",
        "before_again": "You can switch it on again on the new mailbox after the switch to "
                        "the new provider.",
        "menu_path": "Menu",
        "no_change": "Do not change the password of your PEC mailbox until the switch to the "
                     "new provider.",
        "invalid_causes": "Possible causes",
        "cause_typo": "The password was mistyped (capital and small letters matter).",
        "cause_twofa": "2-step verification is on for the mailbox, perhaps switched on in the "
                       "past without remembering it. Switch it off as shown below, then try "
                       "again.",
        "cause_app": "You entered an app password: {provider} makes them expire after "
                     "{months} months. Enter the password you use for the webmail.",
        "cause_changed": "The password was changed recently: enter the current one.",
        "recovery": "Forgot the password? Recover it at {provider}:",
        "next_title": "What happens next",
        "next_copy": "Your messages are being copied to the new mailbox; you need do nothing "
                     "else. Your PEC address does not change and mail keeps arriving as "
                     "usual.",
        "next_close": "You can close this page.",
        "keep_password": "To avoid interrupting the migration, do not change your password "
                         "until the switch to the new provider{switch}. If you must, repeat "
                         "the procedure with the new password.",
        "switch_on": " ({switch_at})",
        "enrolled": "Your mailbox was not on the order's list yet: your current provider "
                    "confirmed the password and the mailbox has been added.",
        "after_switch": "After the switch, reach the new mailbox through the new provider's "
                        "webmail:",
        "switched_title": "Switch-over complete",
        "switched": "The switch to the new provider has happened and the last copy of your "
                    "messages is complete. You may now switch 2-step verification on again on "
                    "the new mailbox.",
        "switched_webmail": "Reach your mailbox through the new provider's webmail:",
        "switched_no_webmail": "To reach the new mailbox, follow the order's instructions.",
        "not_ours_title": "No procedure for this address",
        "not_ours": "This procedure is only for mailboxes {domains}: the address {address} is "
                    "not one of them. If your PEC comes from another provider (bought "
                    "privately or given by another body) you need do nothing. Nothing was "
                    "recorded.",
        "not_listed": "The address {address} is not in the list of mailboxes to migrate. If "
                      "your PEC comes from another provider (bought privately or given by "
                      "another body) you need do nothing. Nothing was recorded.",
        "verified_title": "Address verified",
        "verified_only": "The password of {address} is right, but the mailbox is not on the "
                         "order's list yet. The request has been recorded: once the order has "
                         "added it, come back to this page and enter the password again.",
        "ceiling_title": "Mailbox protected: too many attempts",
        "ceiling": "Too many failed attempts were made for this mailbox, also from other "
                   "devices. To protect it at the provider, checks are paused: try again "
                   "after {time} on {date}.",
        "ceiling_link": "If the order sent you your personal link, you can use it right now: "
                        "it still works.",
        "link_intro": "This is your personal link: your address is already filled in. Enter "
                      "the current password of your PEC mailbox.",
        "link_unknown_title": "Link not valid",
        "link_unknown": "This personal link is not valid (perhaps it was copied only in part). "
                        "You can use the form with your PEC address.",
        "to_form": "Go to the form",
        "months": "January February March April May June July August September October "
                  "November December",
        "date_format": "{day} {month} {year}",
        "time_format": "{date}, {time}",
    },
}

# The member's own state in plain words, and the next step: pecsync.state_wording (member
# voice).
