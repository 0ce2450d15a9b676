"""Contracts beyond values, generic over the catalog: op × contract × dtype × two small shapes.

Each function of the op that the module under test provides is called with fresh copies of
seeded arguments and checked for what a caller relies on besides its values
(``gradverify.contracts``): it modifies no argument (read-only arguments on the first shape),
gives the same result twice, is linear in its upstream gradient, gives the same result for
transposed, strided and Fortran-ordered arguments, and agrees with the module's own JVP,
Jacobian, Hessian and HVP. No framework is imported and no reference is needed: these cases
carry no backend marker, so ``-m "not torch"`` (or any numpy-only environment) keeps them.
"""

from __future__ import annotations

import pytest

from gradverify import contracts
from gradverify import isolate_contracts as isolated
from gradverify.cases import Case

CASES = [pytest.param(case, contract, read_only, id=contracts.case_id(case, contract))
         for case, contract, read_only in contracts.contract_cases()]


@pytest.mark.parametrize("case,contract,read_only", CASES)
def test_contract(case: Case, contract: str, read_only: bool, impl_module, impl_option, seed,
                  request) -> None:
    """The op's functions keep ``contract`` (see gradverify/contracts.py)."""
    if hasattr(impl_module, "gradverify_worker"):  # --isolate: it runs in the worker
        isolated.run_one(impl_module, case, contract, read_only, seed, request.node.nodeid,
                         impl_option)
        return
    subject = contracts.Subject(case, impl_module, seed, request.node.nodeid, impl_option,
                                read_only)
    contracts.CONTRACTS[contract](subject)
