"""Each user's own mailbox: tracked mail leaves from it, with a clean copy in its Sent folder."""
