// Mocha reads the tests under test/ only: the oracle example's own tests (examples/oracle/test/) run from here, in
// `npm test` and `hardhat test mocha`.
import "../../examples/oracle/test/OracleMarket.test.js";
