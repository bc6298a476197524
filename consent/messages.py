"""The wording of the consent page and request email, per language (English, Italian)."""

from __future__ import annotations

__all__ = ["MESSAGES"]

_EN = {
    "title": "Email tracking",
    "explain": (
        "Emails sent to you through our CRM can tell the sender when you open them and "
        "which links you click, by means of a small image and links that pass through "
        "our server. Where the law asks for it, we only do this with your permission."
    ),
    "for_address": "Your address",
    "current": "Your current choice",
    "status_UNKNOWN": "no choice recorded yet",
    "status_GRANTED": "tracking allowed",
    "status_DENIED": "tracking declined",
    "status_WITHDRAWN": "tracking withdrawn",
    "choose": "Your choice",
    "allow": "Allow tracking",
    "deny": "Don't track me",
    "anytime": "You can change your choice at any time on this page.",
    "text_version": "Consent text version",
    "done_GRANTED": "Thank you: tracking is now allowed for this address.",
    "done_DENIED": (
        "Done: emails to this address will not be tracked, and activity on emails "
        "you received earlier is no longer recorded."
    ),
    "error_title": "This link cannot be used",
    "error_link": (
        "The link is incomplete or not valid. Please use the link from the email you received."
    ),
    "error_form": (
        "This form has expired or was already sent. Please open the link again and "
        "make your choice."
    ),
    "email_subject": "May we track the emails we send you?",
    "email_greeting": "Hello,",
    "email_body": (
        "we would like to know when you open the emails we send you and which links "
        "you click. We will only do this if you allow it. You can allow or decline "
        "here, and change your mind at any time:"
    ),
    "email_no_tracking": "This email itself is not tracked.",
    "error_expired": (
        "This link has expired. Please use the link in a more recent email from us, or "
        "ask the sender for a new one."
    ),
    "error_address": "That is not a valid email address.",
    "message_explain": (
        "This email was sent to several people, so this page cannot record a choice for "
        "one of them. You can stop the tracking of this email for everyone it was sent "
        "to, or get a link of your own, by email, to make your choice for your address."
    ),
    "message_stop_legend": "This email",
    "message_stop": "Stop tracking this email",
    "message_stopped": "Tracking of this email is stopped.",
    "personal_legend": "Your own choice",
    "personal_explain": (
        "Enter your address: if this email was sent to it, we email you a link to make "
        "your choice (at most one such email per address and day)."
    ),
    "personal_address": "Your email address",
    "personal_send": "Email me my link",
    "done_STOPPED": "Done: activity on this email is no longer recorded, for anyone.",
    "done_LINK": (
        "If this email was sent to that address, a link to make your own choice is on "
        "its way to it."
    ),
}

_IT = {
    "title": "Tracciamento delle email",
    "explain": (
        "Le email che ti inviamo tramite il nostro CRM possono indicare al mittente quando "
        "le apri e quali link visiti, grazie a una piccola immagine e a link che passano "
        "dal nostro server. Dove la legge lo richiede, lo facciamo solo con il tuo consenso."
    ),
    "for_address": "Il tuo indirizzo",
    "current": "La tua scelta attuale",
    "status_UNKNOWN": "nessuna scelta registrata",
    "status_GRANTED": "tracciamento consentito",
    "status_DENIED": "tracciamento rifiutato",
    "status_WITHDRAWN": "consenso revocato",
    "choose": "La tua scelta",
    "allow": "Consenti il tracciamento",
    "deny": "Non tracciarmi",
    "anytime": "Puoi cambiare la tua scelta in qualsiasi momento da questa pagina.",
    "text_version": "Versione del testo di consenso",
    "done_GRANTED": "Grazie: il tracciamento è ora consentito per questo indirizzo.",
    "done_DENIED": (
        "Fatto: le email a questo indirizzo non saranno tracciate e l'attività sulle "
        "email ricevute in precedenza non viene più registrata."
    ),
    "error_title": "Questo link non può essere usato",
    "error_link": (
        "Il link è incompleto o non valido. Usa il link contenuto nell'email che hai ricevuto."
    ),
    "error_form": (
        "Questo modulo è scaduto o è già stato inviato. Apri di nuovo il link ed "
        "esprimi la tua scelta."
    ),
    "email_subject": "Possiamo tracciare le email che ti inviamo?",
    "email_greeting": "Ciao,",
    "email_body": (
        "vorremmo sapere quando apri le email che ti inviamo e quali link visiti. "
        "Lo faremo solo se ce lo consenti. Puoi accettare o rifiutare qui e cambiare "
        "idea in qualsiasi momento:"
    ),
    "email_no_tracking": "Questa email non è tracciata.",
    "error_expired": (
        "Questo link è scaduto. Usa il link contenuto in una nostra email più recente, "
        "oppure chiedine uno nuovo al mittente."
    ),
    "error_address": "Questo non è un indirizzo email valido.",
    "message_explain": (
        "Questa email è stata inviata a più persone, quindi questa pagina non può "
        "registrare la scelta di una di loro. Puoi interrompere il tracciamento di questa "
        "email per tutti i destinatari, oppure ricevere via email un link personale per "
        "esprimere la tua scelta per il tuo indirizzo."
    ),
    "message_stop_legend": "Questa email",
    "message_stop": "Interrompi il tracciamento di questa email",
    "message_stopped": "Il tracciamento di questa email è interrotto.",
    "personal_legend": "La tua scelta",
    "personal_explain": (
        "Inserisci il tuo indirizzo: se questa email ti è stata inviata, ti mandiamo un "
        "link per esprimere la tua scelta (al massimo una email del genere al giorno)."
    ),
    "personal_address": "Il tuo indirizzo email",
    "personal_send": "Inviami il mio link",
    "done_STOPPED": "Fatto: l'attività su questa email non viene più registrata, per nessuno.",
    "done_LINK": (
        "Se questa email è stata inviata a quell'indirizzo, un link per esprimere la tua "
        "scelta è in arrivo."
    ),
}

#: Wording per language code; every language has the same keys as English.
MESSAGES: dict[str, dict[str, str]] = {"en": _EN, "it": _IT}
