"""Crash recovery: unsaved edits journalled inside the dataset, offered back after a crash.

- :mod:`.journal_file`: the format of one journal file (read, write, checks).
- :mod:`.journal`: a dataset's recovery folder (background writes, listing, removal).
- :mod:`.follower`: :class:`~.follower.SessionFollower`, which observes an editing
  session, feeds the journal and restores journalled edits.
"""
