"""HTTP serving plumbing shared by the component server and the orchestrator: the HTTP/1.1
protocol that sends each answer in one write (``protocol``), the limits a client's request must
keep (``limits``), and the failure log that cannot fill a disk (``error_log``). It sits below both,
so neither imports the other.
"""
