import unittest

from app import greeting


class GreetingTest(unittest.TestCase):
    def test_greets_the_world_by_default(self):
        self.assertEqual(greeting(), "Hello, world!")
        self.assertEqual(greeting("  "), "Hello, world!")

    def test_greets_by_name(self):
        self.assertEqual(greeting(" Mona "), "Hello, Mona!")


if __name__ == "__main__":
    unittest.main()
