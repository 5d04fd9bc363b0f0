"""Load on the messaging tier: fan-out strategies, the CPU cost model, queueing and scalability.

- :mod:`~capacity.load.strategies`: deliveries per message under each fan-out strategy (add one here);
- :mod:`~capacity.load.messaging`: the censored cost model ``busy = u0 + a N + b N F(N)``;
- :mod:`~capacity.load.fanout`: deliveries per message measured from the broker's counts;
- :mod:`~capacity.load.costs`: cost forms (plain, quadratic, per-connection rate);
- :mod:`~capacity.load.profile`: the intraday profile and the servers' shares;
- :mod:`~capacity.load.queueing`: Erlang B/C, M/M/c waits, a utilisation limit from a latency target;
- :mod:`~capacity.load.usl`: the Universal Scalability Law fitted to load-test data;
- :mod:`~capacity.load.charts`: the messaging chart.
"""

from capacity.load.messaging import MessagingModel, busy_cores, fit_messaging
from capacity.load.profile import LoadProfile, fit_profile
from capacity.load.queueing import erlang_b, erlang_c, utilisation_limit
from capacity.load.strategies import Broadcast, PatternSubscription, Sharded, Strategy, Targeted
from capacity.load.usl import USLFit, USLPeak, fit_usl

__all__ = ["fit_messaging", "MessagingModel", "busy_cores", "Strategy", "Broadcast", "Targeted", "Sharded",
           "PatternSubscription", "erlang_b", "erlang_c", "utilisation_limit", "fit_usl", "USLFit", "USLPeak",
           "LoadProfile", "fit_profile"]
